"""The browser pages: the live view (``/``), the enrolment page (``/enrol``), their scripts, and ``/docs``.

The pages are static files inside the package (``detectkit/serve/static``). Their
script and style links carry the token (a browser sends no header for them), so the
HTML is served with ``{{token_query}}`` filled in; the scripts keep the token in the
tab's ``sessionStorage`` and send it as a Bearer header to the API.

Example:
    >>> from detectkit.serve.routes_pages import page_text
    >>> "{{token_query}}" in page_text("live.html")
    True
"""


from importlib import resources
from typing import Any
from urllib.parse import quote

from .auth import request_token

__all__ = ["pages_router", "page_text", "login_page", "PAGE_HEADERS", "STATIC_FILES"]

STATIC_FILES = {
    "app.js": "text/javascript",
    "live.js": "text/javascript",
    "enrol.js": "text/javascript",
    "style.css": "text/css",
}
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "Referrer-Policy": "no-referrer",  # the ?token= of a page must not leak to other sites
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def page_text(name: str) -> str:
    """A file of ``detectkit/serve/static`` as text."""
    return resources.files("detectkit.serve").joinpath("static", name).read_text(encoding="utf-8")


def login_page(nonce: str) -> str:
    """The 401 page for a browser: asks for the token once, keeps it in ``sessionStorage``, reloads."""
    return page_text("login.html").replace("{{nonce}}", nonce)


def pages_router(context: Any) -> Any:
    """The page routes."""
    from fastapi import APIRouter, Request
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.responses import HTMLResponse, Response

    router = APIRouter(include_in_schema=False)

    def render(name: str, request: Request) -> HTMLResponse:
        token = request_token(request.scope) or ""
        html = page_text(name).replace("{{token_query}}", "token=" + quote(token, safe=""))
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @router.get("/")
    def live(request: Request) -> HTMLResponse:
        return render("live.html", request)

    @router.get("/enrol")
    def enrol(request: Request) -> HTMLResponse:
        return render("enrol.html", request)

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        kind = STATIC_FILES.get(name)
        if kind is None:
            from .http_errors import NotFound

            raise NotFound(f"no file {name!r}")
        return Response(page_text(name), media_type=kind, headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    @router.get("/docs")
    def docs(request: Request) -> HTMLResponse:
        # Swagger UI's own files come from its CDN: the page needs a browser with internet access;
        # /openapi.json (the description itself) is served from here.
        token = quote(request_token(request.scope) or "", safe="")
        return get_swagger_ui_html(openapi_url=f"/openapi.json?token={token}", title="detectkit serve: API")

    return router
