"""The live streams over HTTP: MJPEG frames, Server-Sent Events, status.

* ``GET /streams/{name}.mjpg``: ``multipart/x-mixed-replace`` of the newest annotated
  frames (an ``<img src>`` shows it); each viewer gets the newest frame each time it is
  ready for one, so a slow viewer skips frames instead of queueing them;
* ``GET /streams/{name}/events``: ``text/event-stream``, one JSON message per frame
  (objects, faces with identities, FPS, latency), and the stream's status when it changes;
* ``GET /streams/{name}.jpg``: the newest frame alone;
* ``GET /api/streams``: every stream's status (running, failed and why, FPS...).

In a page::

    <img src="/streams/door.mjpg?token=TOKEN">   new EventSource("/streams/door/events?token=TOKEN")

Example (the route table; the server's own ``ServeContext`` supplies the stream hub):
    >>> import threading, types
    >>> router = streams_router(types.SimpleNamespace(hub=None), threading.Event())
    >>> sorted(route.path for route in router.routes)
    ['/api/streams', '/api/streams/{name}', '/streams/{name}.jpg', '/streams/{name}.mjpg', '/streams/{name}/events']
"""


import json
from typing import Any, AsyncIterator

from .context import ServeContext
from .http_errors import NotFound

__all__ = ["streams_router", "BOUNDARY"]

BOUNDARY = "detectkit-frame"
KEEPALIVE_S = 1.0  # a waiting viewer wakes this often (to notice the server stopping, and for SSE keep-alives)


def streams_router(context: ServeContext, stopping: Any) -> Any:
    """The stream routes; ``stopping`` is an event set when the server shuts down (viewers end)."""
    from fastapi import APIRouter
    from fastapi.responses import Response, StreamingResponse

    router = APIRouter(tags=["streams"])
    hub = context.hub
    no_cache = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}

    @router.get("/api/streams", summary="Every live stream and its state")
    def list_streams() -> list[dict[str, Any]]:
        return [hub.get(name).status() for name in hub.names()]

    @router.get("/api/streams/{name}", summary="One stream's state")
    def stream_status(name: str) -> dict[str, Any]:
        return hub.get(name).status()

    @router.get("/streams/{name}.jpg", summary="The newest annotated frame")
    def snapshot(name: str) -> Response:
        item = hub.get(name).latest.item
        if item is None:
            raise NotFound(f"stream {name!r} has no frame yet")
        return Response(item.jpeg, media_type="image/jpeg", headers=no_cache)

    @router.get(
        "/streams/{name}.mjpg",
        summary="The annotated live stream (MJPEG)",
        response_class=StreamingResponse,
        responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
    )
    async def mjpeg(name: str) -> StreamingResponse:
        stream = hub.get(name)

        async def frames() -> AsyncIterator[bytes]:
            seq = 0
            while not stopping.is_set():
                item = await stream.latest.next(seq, KEEPALIVE_S)
                if item is None:
                    continue
                seq = item.seq
                head = f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(item.jpeg)}\r\n\r\n".encode()
                yield head + item.jpeg + b"\r\n"

        return StreamingResponse(frames(), media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}", headers=no_cache)

    @router.get("/streams/{name}/events", summary="One JSON message per frame (Server-Sent Events)")
    async def events(name: str) -> StreamingResponse:
        stream = hub.get(name)

        async def messages() -> AsyncIterator[str]:
            seq, last_status = 0, None
            yield "retry: 2000\n\n"
            while not stopping.is_set():
                status = stream.status()
                brief = (status["state"], status["error"])
                if brief != last_status:
                    last_status = brief
                    yield f"event: status\ndata: {json.dumps(status, ensure_ascii=False)}\n\n"
                item = await stream.latest.next(seq, KEEPALIVE_S)
                if item is None:
                    yield ": keep-alive\n\n"
                    continue
                seq = item.seq
                yield f"event: frame\nid: {item.seq}\ndata: {item.message}\n\n"

        return StreamingResponse(messages(), media_type="text/event-stream", headers=no_cache)

    return router
