"""Whether a model file may run code: detectkit's one trust switch.

Model files that are pickles (ultralytics ``.pt`` checkpoints, a ``torch.save`` of any Python
object) can run arbitrary code while they are read. detectkit reads every model file so that
nothing in it runs: state dicts and detectkit checkpoints with ``torch.load(weights_only=True)``,
ultralytics checkpoints with ultralytics' own restricted loader (only its allow-listed model
classes are rebuilt). A file that needs anything else is refused with a
:class:`~detectkit.errors.WeightsFormatError` that says how to trust it, unless the user said so:

* ``trust=True`` on :class:`~detectkit.Detector`, :func:`~detectkit.finetune`, ``export``;
* ``--trust-model`` on the command line;
* ``DETECTKIT_TRUST_MODELS=1`` in the environment (every model file of the process).

:func:`trusting` sets the switch for the calling thread while a model is loaded; the loaders
ask :func:`models_trusted`.

Example:
    >>> models_trusted()
    False
    >>> with trusting(True):
    ...     models_trusted()
    True
    >>> models_trusted()
    False
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Iterator

__all__ = ["TRUST_ENV", "env_trusts_models", "models_trusted", "trusting", "untrusted_message"]

TRUST_ENV = "DETECTKIT_TRUST_MODELS"
"""Environment variable that trusts every model file this process loads (``1``, ``true``, ``yes``, ``on``)."""

_state = threading.local()


def env_trusts_models() -> bool:
    """``DETECTKIT_TRUST_MODELS`` is set to a true value.

    Example:
        >>> import os; os.environ.get("DETECTKIT_TRUST_MODELS") is None and not env_trusts_models()
        True
    """
    return os.environ.get(TRUST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def models_trusted() -> bool:
    """Whether model files loaded now, in this thread, may run code (:func:`trusting` or the environment)."""
    return bool(getattr(_state, "trusted", False)) or env_trusts_models()


@contextlib.contextmanager
def trusting(trust: bool | None) -> Iterator[None]:
    """Trust (``True``) the model files this thread loads in the block; ``False``/``None`` adds no trust
    (an enclosing ``trusting(True)``, e.g. ``finetune(trust=True)`` loading its ``best.pt``, and the
    environment variable still hold).
    """
    previous = getattr(_state, "trusted", False)
    _state.trusted = previous or bool(trust)
    try:
        yield
    finally:
        _state.trusted = previous


def untrusted_message(path: object, detail: str = "") -> str:
    """The message of a refused model file: which file, why, and how to trust it.

    Example:
        >>> untrusted_message("evil.pt").split(":")[0]
        'evil.pt'
    """
    reason = f" ({detail})" if detail else ""
    return (
        f"{path}: this model file holds pickled Python objects that are not a state dict, a detectkit "
        f"checkpoint or ultralytics' own model classes{reason}; reading it could run code, so it was not "
        "loaded. If you trust where it came from, pass trust=True (Detector, finetune, export), "
        f"--trust-model on the command line, or set {TRUST_ENV}=1"
    )
