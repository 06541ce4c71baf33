"""``detectkit serve``: a REST API, a live view and an enrolment page over the library.

A thin web layer (FastAPI + uvicorn, extra ``detectkit[serve]``) over the same calls the
Python API offers:

* :mod:`.routes_detect` / :mod:`.routes_faces`: detect objects in an upload, enrol,
  verify, identify, list, rename, remove and export people (``/api/...``, described at
  ``/docs`` and ``/openapi.json``);
* :mod:`.streams`: each ``--source`` runs the video :class:`~detectkit.video.Pipeline` in
  live mode once, in a background thread, whatever the number of viewers; the newest
  annotated frame goes out as MJPEG (``/streams/{name}.mjpg``) and its results as
  Server-Sent Events (``/streams/{name}/events``);
* :mod:`.routes_pages`: the live page (``/``) and the enrolment page (``/enrol``);
* :mod:`.auth`: one API token for everything but ``/health``.

Example:
    >>> from detectkit.serve import ServeSettings
    >>> ServeSettings(token="x" * 32).max_upload_bytes
    20971520
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "ServeSettings", "StreamHub", "LiveStream", "generate_token", "check_bind"]


def __getattr__(name: str) -> Any:  # keep `import detectkit.serve` light (FastAPI is imported on use)
    if name == "create_app":
        from .app import create_app

        return create_app
    if name in ("ServeSettings", "check_bind"):
        from . import settings

        return getattr(settings, name)
    if name == "generate_token":
        from .auth import generate_token

        return generate_token
    if name in ("StreamHub", "LiveStream"):
        from . import streams

        return getattr(streams, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
