"""Warnings that point at the user's line, not at detectkit's insides.

``warnings.warn(..., stacklevel=N)`` needs the depth of the call chain, which differs between
``detector(image)``, ``detector.predict_arrays(...)`` and ``detector.stream(...)``; Python 3.12 has
``skip_file_prefixes`` for this, 3.11 does not. :func:`warn_user` walks the stack to the first
frame outside the ``detectkit`` package and attributes the warning to it.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warn_user("imgsz=256 is ignored")
    >>> caught[0].filename.endswith("user_warnings.py"), str(caught[0].message)
    (False, 'imgsz=256 is ignored')
"""

from __future__ import annotations

import os
import sys
import warnings

__all__ = ["warn_user"]

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the nearest caller outside detectkit."""
    level, frame = 2, sys._getframe(1)
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
