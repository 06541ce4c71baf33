"""The API token: generated or given, checked on every request but ``/health``.

A request carries the token as ``Authorization: Bearer TOKEN``. GET requests may carry
it as ``?token=TOKEN`` instead, because a browser cannot set a header on an ``<img>``
(the MJPEG stream), an ``EventSource`` (the live list) or a page it navigates to; other
methods need the header, so a form on another site cannot post to the server.
Tokens are compared with :func:`hmac.compare_digest` (no timing leak).

A page requested without a valid token gets a 401 whose body asks for the token once
and keeps it in the tab's ``sessionStorage``; API requests get a JSON 401.

Example:
    >>> from detectkit.serve.auth import generate_token, token_matches
    >>> token = generate_token()
    >>> len(token) >= 32, token_matches(token, token), token_matches(token, token[:-1])
    (True, True, False)
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import parse_qs

__all__ = ["generate_token", "token_matches", "TokenAuth", "PUBLIC_PATHS", "request_token", "RedactTokens"]

PUBLIC_PATHS = frozenset({"/health"})
"""Paths answered without a token."""

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def generate_token() -> str:
    """A new random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def token_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a presented token with the server's."""
    if given is None:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"]*")


class RedactTokens(logging.Filter):
    """A logging filter that replaces ``?token=...`` in log lines (uvicorn's access log) by ``token=***``.

    Example:
        >>> import logging
        >>> record = logging.LogRecord("uvicorn.access", 20, "", 0, '%s "%s %s"', ("1.2.3.4", "GET", "/x.mjpg?token=abc&a=1"), None)
        >>> RedactTokens().filter(record), record.getMessage()
        (True, '1.2.3.4 "GET /x.mjpg?token=***&a=1"')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_QUERY.sub(r"\1***", record.msg)
        return True


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def request_token(scope: Scope) -> str | None:
    """The token a request presents: the Bearer header, else (GET/HEAD only) ``?token=``."""
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    if scope.get("method") in ("GET", "HEAD"):
        values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
        if values:
            return values[-1]
    return None


class TokenAuth:
    """ASGI middleware: 401 for any HTTP request (and any websocket) without the right token.

    Args:
        app: the application behind it.
        token: the server's token.
        public: paths that need no token.
        login_page: makes the 401 body (HTML, given a CSP nonce) for browsers asking for a page.
    """

    def __init__(self, app: Any, token: str, *, public: Iterable[str] = PUBLIC_PATHS, login_page: Callable[[str], str] | None = None) -> None:
        self.app = app
        self.token = token
        self.public = frozenset(public)
        self.login_page = login_page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.public:
            await self.app(scope, receive, send)
            return
        if token_matches(self.token, request_token(scope)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        accept = _header(scope, b"accept") or ""
        if self.login_page is not None and scope.get("method") == "GET" and "text/html" in accept:
            nonce = secrets.token_urlsafe(16)
            body = self.login_page(nonce).encode("utf-8")
            headers = [
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-security-policy", f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'".encode()),
            ]
        else:
            message = "missing or wrong API token: send 'Authorization: Bearer TOKEN' (or ?token=TOKEN on a GET)"
            body = json.dumps({"detail": message, "error": "Unauthorized"}).encode("utf-8")
            headers = [(b"content-type", b"application/json")]
        headers += [
            (b"www-authenticate", b'Bearer realm="detectkit"'),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": body})
