"""What the server allows: upload and image limits, and where it may listen.

Example:
    >>> from detectkit.serve.settings import ServeSettings, check_bind
    >>> ServeSettings(token="t" * 32, max_files=5).max_files
    5
    >>> check_bind("127.0.0.1", explicit_token=False)   # loopback: a generated token is fine
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ..errors import ModelError
from ..images import MAX_PIXELS

__all__ = ["ServeSettings", "check_bind", "is_loopback", "MIN_TOKEN_LENGTH"]

MIN_TOKEN_LENGTH = 16
"""Shortest API token accepted (a generated one is 43 characters)."""


@dataclass(frozen=True)
class ServeSettings:
    """Limits and the token of one server.

    Args:
        token: the API token every request but ``/health`` must carry.
        max_upload_bytes: largest request body (all files of an upload together); larger: 413.
        max_pixels: largest image, width x height (the library's ``load_image`` limit); larger: 413.
        max_files: most photos in one enrolment.
        max_top_k: largest ``top_k`` of an identification.
        api_model_slots: API requests that may run a model at the same time. The models serialise
            their calls anyway; with one slot the live streams wait behind at most one API request,
            not behind every queued one (measured: benchmarks/serve_load.py, docs/benchmarks.md).

    Raises:
        ModelError: a token shorter than :data:`MIN_TOKEN_LENGTH`, or a limit below 1.
    """

    token: str
    max_upload_bytes: int = 20 * 1024 * 1024
    max_pixels: int = min(MAX_PIXELS, 40_000_000)
    max_files: int = 20
    max_top_k: int = 50
    api_model_slots: int = 1

    def __post_init__(self) -> None:
        if len(self.token) < MIN_TOKEN_LENGTH:
            raise ModelError(f"the API token must have at least {MIN_TOKEN_LENGTH} characters (got {len(self.token)})")
        for name in ("max_upload_bytes", "max_pixels", "max_files", "max_top_k", "api_model_slots"):
            if int(getattr(self, name)) < 1:
                raise ModelError(f"{name} must be at least 1, got {getattr(self, name)}")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost"), is_loopback("0.0.0.0")
        (True, True, True, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_bind(host: str, *, explicit_token: bool) -> None:
    """Refuse to listen beyond this machine with a token nobody chose.

    Raises:
        ModelError: ``host`` is not a loopback address and no ``--token`` / ``DETECTKIT_TOKEN`` was given.

    Example:
        >>> check_bind("0.0.0.0", explicit_token=False)
        Traceback (most recent call last):
        ...
        detectkit.errors.ModelError: --host 0.0.0.0 accepts connections from other machines: give the API token yourself (--token or DETECTKIT_TOKEN), so that it is not only printed to this console
    """
    if not is_loopback(host) and not explicit_token:
        raise ModelError(
            f"--host {host} accepts connections from other machines: give the API token yourself "
            "(--token or DETECTKIT_TOKEN), so that it is not only printed to this console"
        )
