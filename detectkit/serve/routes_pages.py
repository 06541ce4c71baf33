"""The browser pages: the live view (``/``), the enrolment page (``/enrol``), their scripts, and ``/docs``.

The pages are static files inside the package (``detectkit/serve/static``). Their
script and style links carry the token (a browser sends no header for them), so the
HTML is served with ``{{token_query}}`` filled in; the scripts keep the token in the
tab's ``sessionStorage`` and send it as a Bearer header to the API.

``/docs`` is Swagger UI over ``/openapi.json``. Its script and style are served from here
(``/docs/files/...``), out of the ``fastapi-offline`` package (``[serve]`` extra: Swagger UI 5,
which reads FastAPI's OpenAPI 3.1), so the page works without internet; without that
package they come from Swagger's CDN, as FastAPI's own ``/docs`` does.

Example:
    >>> from detectkit.serve.routes_pages import page_text
    >>> "{{token_query}}" in page_text("live.html")
    True
"""


import importlib.util
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .auth import request_token

__all__ = ["pages_router", "page_text", "login_page", "swagger_ui_folder", "PAGE_HEADERS", "STATIC_FILES", "DOCS_FILES"]

STATIC_FILES = {
    "app.js": "text/javascript",
    "live.js": "text/javascript",
    "enrol.js": "text/javascript",
    "style.css": "text/css",
}
DOCS_FILES = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
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


def swagger_ui_folder() -> Path | None:
    """The folder holding Swagger UI's files (``DOCS_FILES``) from ``fastapi-offline``, or ``None``
    when that package is not installed (``/docs`` then loads them from Swagger's CDN).

    Example:
        >>> folder = swagger_ui_folder()
        >>> folder is None or (folder / "swagger-ui-bundle.js").is_file()
        True
    """
    spec = importlib.util.find_spec("fastapi_offline")
    if spec is None or not spec.origin:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if all((folder / name).is_file() for name in DOCS_FILES) else None


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
        token = quote(request_token(request.scope) or "", safe="")
        files = {}
        if swagger_ui_folder() is not None:  # served from here; else FastAPI's defaults: Swagger's CDN
            files = {
                "swagger_js_url": f"/docs/files/swagger-ui-bundle.js?token={token}",
                "swagger_css_url": f"/docs/files/swagger-ui.css?token={token}",
                "swagger_favicon_url": f"/docs/files/favicon.png?token={token}",
            }
        return get_swagger_ui_html(openapi_url=f"/openapi.json?token={token}", title="detectkit serve: API", **files)

    @router.get("/docs/files/{name}")
    def docs_file(name: str) -> Response:
        from fastapi.responses import FileResponse

        from .http_errors import NotFound

        folder, kind = swagger_ui_folder(), DOCS_FILES.get(name)
        if folder is None or kind is None:
            raise NotFound(f"no file {name!r}" + ("" if folder else " (pip install fastapi-offline for Swagger UI's files)"))
        return FileResponse(folder / name, media_type=kind, headers={"X-Content-Type-Options": "nosniff"})

    return router
