"""``POST /api/detect``: objects in an uploaded image, as ``Detections.to_dict`` JSON or an annotated JPEG.

Usage:
    curl -H "Authorization: Bearer $TOKEN" -F image=@street.jpg "http://127.0.0.1:8000/api/detect?conf=0.4&classes=person,car"
"""


from typing import Any

from ..errors import ModelError
from .context import ServeContext
from .http_errors import BadParameter
from .uploads import decode_photo

__all__ = ["detect_router", "parse_classes"]


def parse_classes(text: str | None) -> list[int | str] | None:
    """``"person,2"`` -> ``["person", 2]`` (ids as ints, names as they are); empty -> ``None``.

    Example:
        >>> parse_classes("person, 2,"), parse_classes("")
        (['person', 2], None)
    """
    if not text:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    return [int(item) if item.lstrip("-").isdigit() else item for item in items] or None


def detect_router(context: ServeContext) -> Any:
    """The detection routes over ``context.detector``."""
    from fastapi import APIRouter, File, Query, UploadFile
    from fastapi.responses import Response

    router = APIRouter(prefix="/api", tags=["detection"])

    @router.post(
        "/detect",
        summary="Detect objects in an uploaded image",
        responses={200: {"content": {"application/json": {}, "image/jpeg": {}},
                         "description": "Detections.to_dict() JSON, or the annotated JPEG with annotated=1"}},
    )
    def detect(
        image: UploadFile = File(..., description="the image (JPEG, PNG, ...)"),
        conf: float | None = Query(None, ge=0.0, le=1.0, description="minimum confidence (default: the server's)"),
        iou: float | None = Query(None, ge=0.0, le=1.0, description="NMS IoU threshold"),
        classes: str | None = Query(None, description="comma-separated class names or ids to keep, e.g. person,car"),
        max_det: int | None = Query(None, ge=1, le=10_000, description="most boxes"),
        imgsz: int | None = Query(None, ge=32, le=8192, description="longest side fed to the model"),
        annotated: bool = Query(False, description="answer with the annotated JPEG instead of JSON"),
    ) -> Any:
        detector = context.need_detector()
        array = decode_photo(image.file.read(), image.filename or "upload", max_pixels=context.settings.max_pixels)
        try:
            with context.model_call():
                found = detector(array, conf=conf, iou=iou, classes=parse_classes(classes), max_det=max_det, imgsz=imgsz)
        except ModelError as exc:  # an unknown class name
            raise BadParameter(str(exc)) from None
        if not annotated:
            return {"image": image.filename, **found.to_dict()}
        import cv2

        from ..video.annotate import Annotator

        ok, jpeg = cv2.imencode(".jpg", Annotator().draw(array, found), [cv2.IMWRITE_JPEG_QUALITY, 90])
        return Response(jpeg.tobytes(), media_type="image/jpeg", headers={"X-Detections": str(len(found))})

    return router
