"""Gallery locations: which engine a location names (its URL scheme), and how to show it safely.

Example:
    >>> scheme_of("faces.db"), scheme_of(":memory:"), scheme_of("postgresql://me@db.example/people")
    ('sqlite', 'sqlite', 'postgresql')
    >>> redact("postgresql://me:secret@db.example:5432/people?schema=team")
    'postgresql://me:***@db.example:5432/people?schema=team'
"""

from __future__ import annotations

import os
import re
from typing import Any

__all__ = ["is_url", "scheme_of", "redact"]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_url(location: Any) -> bool:
    """Whether ``location`` is a ``scheme://...`` string (a path is not).

    Example:
        >>> is_url("postgresql://h/db"), is_url("faces.db")
        (True, False)
    """
    return isinstance(location, str) and _SCHEME.match(location) is not None


def scheme_of(location: str | os.PathLike) -> str:
    """The registry key for ``location``: its URL scheme, or ``"sqlite"`` for paths and ``":memory:"``."""
    text = os.fspath(location)
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else "sqlite"


def redact(location: str | os.PathLike) -> str:
    """``location`` fit for messages and logs: a URL's password replaced by ``***``."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@", r"\1:***@", os.fspath(location))
