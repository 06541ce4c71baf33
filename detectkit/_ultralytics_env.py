"""Import ultralytics quietly and without analytics.

Every detectkit module that needs ultralytics imports it through :func:`import_ultralytics`,
which, before the first import, sets (unless the user already set them):

* ``YOLO_VERBOSE=False``: no banner or per-image log lines;
* ``YOLO_AUTOINSTALL=False``: ultralytics never ``pip install``s packages at run time;

and after it turns ultralytics' anonymous usage events off for this process
(the ``sync`` setting in the user's settings file is left as the user set it).

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
        _module = ultralytics
        return ultralytics


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
