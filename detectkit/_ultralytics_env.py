"""Import ultralytics quietly and without analytics.

Every detectkit module that needs ultralytics imports it through :func:`import_ultralytics`,
which, before the first import, sets (unless the user already set them):

* ``YOLO_VERBOSE=False``: no banner or per-image log lines;
* ``YOLO_AUTOINSTALL=False``: ultralytics never ``pip install``s packages at run time;

and after it turns ultralytics' anonymous usage events off for this process
(the ``sync`` setting in the user's settings file is left as the user set it), and makes
ultralytics' checkpoint loading safe (:func:`install_safe_loading`): a ``.pt`` is read with
``torch.load(weights_only=True)`` against ultralytics' allow-list of its own model classes (what
``ULTRALYTICS_SAFE_LOAD=1`` does), unless :mod:`detectkit.trust` says the file is trusted.

ultralytics' ``select_device`` also calls ``torch.set_num_threads(cpu_count - 1)`` for the
whole process (1 thread on a 2-core machine, which halves every other torch model's speed):
wrap calls that may select a device in :func:`keep_torch_threads`.

Example:
    >>> ultralytics = import_ultralytics()
    >>> hasattr(ultralytics, "YOLO")
    True
"""

from __future__ import annotations

import contextlib
import os
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_module: ModuleType | None = None


def import_ultralytics() -> ModuleType:
    """The ``ultralytics`` module, imported once with analytics off and logging quiet."""
    global _module
    with _lock:
        if _module is not None:
            return _module
        os.environ.setdefault("YOLO_VERBOSE", "False")
        os.environ.setdefault("YOLO_AUTOINSTALL", "False")
        import ultralytics
        from ultralytics.utils import events

        events.events.enabled = False  # no Google Analytics posts from this process
        install_safe_loading()
        _module = ultralytics
        return ultralytics


def install_safe_loading() -> None:
    """Make every ultralytics checkpoint load in this process safe unless the thread trusts it.

    ultralytics reads ``.pt`` files in one place, ``ultralytics.nn.tasks.torch_safe_load`` (called by
    ``load_checkpoint``: ``YOLO(path)``, the trainer's ``pretrained``/``resume``, export). By default it
    unpickles them (``weights_only=False``: a file can run code). Here its ``SAFE_LOAD`` switch is turned
    on, which also builds ``.yaml`` models without ``eval`` (a YAML ``activation`` must be a
    ``torch.nn`` call), and ``torch_safe_load`` is wrapped so that its default is the restricted load
    (``weights_only=True``, ultralytics' allow-list) unless :func:`detectkit.trust.models_trusted`.
    A file the restricted load refuses raises :class:`~detectkit.errors.WeightsFormatError` naming it
    and saying how to trust it. Idempotent.
    """
    import pickle

    from ultralytics.nn import tasks

    from .errors import WeightsFormatError
    from .trust import models_trusted, untrusted_message

    tasks.SAFE_LOAD = True
    original = tasks.torch_safe_load
    if getattr(original, "_detectkit_safe", False):
        return

    def torch_safe_load(weight: Any, safe_only: bool | None = None) -> Any:
        if safe_only is None:
            safe_only = not models_trusted()
        try:
            return original(weight, safe_only=safe_only)
        except TypeError as exc:
            if safe_only and isinstance(exc.__cause__, pickle.UnpicklingError):
                detail = _refused_global(exc.__cause__)
                raise WeightsFormatError(untrusted_message(weight, detail)) from exc
            raise

    torch_safe_load._detectkit_safe = True  # type: ignore[attr-defined]
    torch_safe_load.__wrapped__ = original  # type: ignore[attr-defined]
    tasks.torch_safe_load = torch_safe_load


def _refused_global(exc: BaseException) -> str:
    """``'needs builtins.exec'`` from torch's weights-only refusal, or ``''``."""
    import re

    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    return f"it needs {found.group(1)}" if found else ""


def ultralytics_settings() -> Any:
    """ultralytics' settings (read-only use: detectkit never writes them)."""
    import_ultralytics()
    from ultralytics.utils import SETTINGS

    return SETTINGS


@contextlib.contextmanager
def keep_torch_threads():
    """Keep torch's thread count through ultralytics calls (loading, predicting, training).

    ultralytics' ``select_device`` sets ``torch.set_num_threads(NUM_THREADS)`` (cpu_count - 1, at
    most 8) process-wide: on a 2-core machine every model in the process, and YOLO training
    itself, would run on one thread. Inside the block ``select_device`` uses the current count
    instead, and the count is restored when the block ends whatever ultralytics did.

    Example:
        >>> import torch
        >>> before = torch.get_num_threads()
        >>> with keep_torch_threads():
        ...     torch.set_num_threads(1)
        >>> torch.get_num_threads() == before
        True
    """
    import torch

    import_ultralytics()
    from ultralytics.utils import torch_utils

    before = torch.get_num_threads()
    pinned = torch_utils.NUM_THREADS
    torch_utils.NUM_THREADS = before
    try:
        yield
    finally:
        torch_utils.NUM_THREADS = pinned
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)
