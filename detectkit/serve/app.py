"""`create_app`: the FastAPI application of ``detectkit serve``.

Example:
    >>> from fastapi.testclient import TestClient
    >>> from detectkit.serve import ServeSettings, create_app
    >>> app = create_app(ServeSettings(token="a-test-token-of-32-characters..."))
    >>> with TestClient(app) as client:
    ...     client.get("/health").json(), client.get("/api/info").status_code
    ...     client.get("/api/info", headers={"Authorization": "Bearer a-test-token-of-32-characters..."}).json()["streams"]
    ({'status': 'ok'}, 401)
    []
"""


import threading
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from .auth import PUBLIC_PATHS, TokenAuth
from .context import ServeContext
from .http_errors import install_error_handlers
from .routes_detect import detect_router
from .routes_faces import faces_router
from .routes_pages import login_page, pages_router
from .routes_streams import streams_router
from .settings import ServeSettings
from .streams import StreamHub

__all__ = ["create_app"]


def create_app(
    settings: ServeSettings,
    *,
    detector: Any = None,
    recognizer: Any = None,
    hub: StreamHub | None = None,
) -> Any:
    """The application: REST API, streams and pages over one detector, one recogniser and the streams.

    The streams start with the application (its lifespan) and stop with it.

    Args:
        settings: token and limits.
        detector: a :class:`~detectkit.Detector` (``None``: ``/api/detect`` answers 503).
        recognizer: a :class:`~detectkit.FaceRecognizer` (``None``: ``/api/faces/...`` answer 503).
        hub: the live streams (their pipelines should use the same detector and recogniser).
    """
    from fastapi import FastAPI
    from fastapi.security import HTTPBearer

    from .. import __version__

    context = ServeContext(settings, detector=detector, recognizer=recognizer, hub=hub or StreamHub())
    stopping = threading.Event()

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        context.hub.start()
        try:
            yield
        finally:
            stopping.set()
            context.hub.stop()

    bearer = HTTPBearer(description="the API token printed by `detectkit serve` (or --token / DETECTKIT_TOKEN)", auto_error=False)
    from fastapi import Depends

    app = FastAPI(
        title="detectkit serve",
        version=__version__,
        description="Object detection and face recognition over HTTP, and live views of the server's video sources. "
        "Every path but /health needs the API token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` on a GET.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
        max_body_size=settings.max_upload_bytes,  # 413 before a larger body is read (Content-Length, or counted)
    )
    app.state.context = context
    install_error_handlers(app)
    documented = [Depends(bearer)]  # documents the scheme in OpenAPI; TokenAuth does the checking

    @app.get("/health", tags=["server"], summary="Liveness (no token needed)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/api/info", tags=["server"], summary="The models, streams and limits of this server", dependencies=documented)
    def info() -> dict[str, Any]:
        return context.describe()

    app.include_router(detect_router(context), dependencies=documented)
    app.include_router(faces_router(context), dependencies=documented)
    app.include_router(streams_router(context, stopping), dependencies=documented)
    app.include_router(pages_router(context))
    app.add_middleware(TokenAuth, token=settings.token, public=PUBLIC_PATHS, login_page=login_page)
    return app
