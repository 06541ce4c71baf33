"""Import ultralytics quietly and without analytics.

Every detectkit module that needs ultralytics imports it through :func:`import_ultralytics`,
which, before the first import, sets (unless the user already set them):

* ``YOLO_VERBOSE=False``: no banner or per-image log lines;
* ``YOLO_AUTOINSTALL=False``: ultralytics never ``pip install``s packages at run time;

and after it turns ultralytics' anonymous usage events off for this process
(the ``sync`` setting in the user's settings file is left as the user set it).

Example:
    >>> ultralytics = import_ultralytics()
    >>> hasattr(ultralytics, "YOLO")
    True
"""

from __future__ import annotations

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
