"""``/api/faces/...``: enrol, verify, identify, list, rename, remove and export people.

Every route works on the one :class:`~detectkit.FaceRecognizer` the live streams use; a
change to the gallery is announced to the streams, so faces are named by the new
gallery at their next frame.

Usage:
    curl -H "Authorization: Bearer $TOKEN" -F photos=@ann1.jpg -F photos=@ann2.jpg http://127.0.0.1:8000/api/faces/people/Ann/photos
"""


import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import FaceError, GalleryError
from .context import ServeContext
from .http_errors import BadParameter, Conflict, NotFound
from .uploads import decode_photo

__all__ = ["faces_router", "checked_name"]


def checked_name(name: str) -> str:
    """The gallery's normalised form of ``name``.

    Raises:
        BadParameter: a name the gallery refuses (empty, too long, control characters), with its message (422).

    Example:
        >>> checked_name("  Ann  ")
        'Ann'
    """
    from ..faces.gallery import validate_name

    try:
        return validate_name(name)
    except GalleryError as exc:
        raise BadParameter(str(exc)) from None


def _named_photo(array: Any, filename: str) -> Any:
    """A decoded photo the recogniser reports by its upload's file name."""
    from PIL import Image

    photo = Image.fromarray(array[:, :, ::-1])
    photo.filename = filename  # what detectkit.images.describe() names it by
    return photo


def faces_router(context: ServeContext) -> Any:
    """The face routes over ``context.recognizer``."""
    from fastapi import APIRouter, Body, File, Form, Query, UploadFile
    from fastapi.responses import FileResponse, JSONResponse
    from starlette.background import BackgroundTask

    router = APIRouter(prefix="/api/faces", tags=["faces"])
    limits = context.settings

    def person(name: str) -> str:
        clean = checked_name(name)
        if clean not in context.need_recognizer().gallery:
            raise NotFound(f"no person named {clean!r} in the gallery")
        return clean

    def changed() -> None:
        context.hub.gallery_changed()

    @router.get("/people", summary="Everyone enrolled")
    def list_people() -> list[dict[str, Any]]:
        return [identity.to_dict() for identity in context.need_recognizer().list()]

    @router.get("/people/{name}", summary="One person")
    def get_person(name: str) -> dict[str, Any]:
        return context.need_recognizer().gallery.get(person(name)).to_dict()

    @router.post(
        "/people/{name}/photos",
        summary="Enrol a person from photos",
        description="Each photo must show one usable face; the report lists every photo used and every one rejected, "
        "with the reason. 201 when the person is new. 422 (with the report) when no photo was usable: nothing is written.",
    )
    def enroll(
        name: str,
        photos: list[UploadFile] = File(..., description="one or more photos of the person"),
        replace: bool = Form(False, description="drop the person's earlier embeddings of this model first"),
        strict: bool = Form(False, description="refuse the whole enrolment if any photo is rejected"),
    ) -> Any:
        from ..faces.recognizer import EnrollReport, Rejection

        recognizer = context.need_recognizer()
        clean = checked_name(name)
        if len(photos) > limits.max_files:
            raise BadParameter(f"{len(photos)} photos in one enrolment; at most {limits.max_files}")
        readable, unreadable = [], []
        for upload in photos:
            filename = upload.filename or "upload"
            try:
                readable.append(_named_photo(decode_photo(upload.file.read(), filename, max_pixels=limits.max_pixels), filename))
            except Exception as exc:  # ImageError: reported per photo, as the library does
                unreadable.append(Rejection(filename, "unreadable", str(exc)))
        if strict and unreadable or not readable:
            report = EnrollReport(clean, rejected=unreadable)
            why = "some photos were rejected (strict)" if readable else "no usable face in any photo"
            raise FaceError(f"cannot enrol {clean!r}: {why}; nothing was written\n{report.summary()}", report)
        try:
            with context.model_call():
                report = recognizer.enroll(clean, readable, replace=replace, strict=strict)
        except FaceError as exc:
            if isinstance(exc.report, EnrollReport):
                exc.report.rejected[:0] = unreadable
            raise
        report.rejected[:0] = unreadable
        changed()
        return JSONResponse(report.to_dict(), status_code=201 if report.created else 200)

    @router.patch("/people/{name}", summary="Rename a person")
    def rename(name: str, new_name: str = Body(..., embed=True, alias="name", description="the new name")) -> dict[str, Any]:
        recognizer = context.need_recognizer()
        old, new = person(name), checked_name(new_name)
        if new != old and new in recognizer.gallery:
            raise Conflict(f"cannot rename {old!r} to {new!r}: that name is taken")
        recognizer.rename(old, new)
        changed()
        return recognizer.gallery.get(new).to_dict()

    @router.delete("/people/{name}", summary="Remove a person and their embeddings")
    def remove(name: str) -> dict[str, Any]:
        clean = person(name)
        removed = context.need_recognizer().remove(clean)
        changed()
        return {"name": clean, "removed_embeddings": removed}

    @router.post("/verify", summary="Is this person in the photo?")
    def verify(
        photo: UploadFile = File(..., description="the photo to check"),
        name: str = Form(..., description="who it should be"),
    ) -> dict[str, Any]:
        clean = person(name)
        array = decode_photo(photo.file.read(), photo.filename or "upload", max_pixels=limits.max_pixels)
        with context.model_call():
            return context.need_recognizer().verify(array, clean).to_dict()

    @router.post("/identify", summary="Who is in the photo (every face, top-k candidates)")
    def identify(
        photo: UploadFile = File(..., description="the photo"),
        top_k: int = Query(1, ge=1, description="candidates per face"),
    ) -> dict[str, Any]:
        if top_k > limits.max_top_k:
            raise BadParameter(f"top_k={top_k} is over the limit of {limits.max_top_k}")
        array = decode_photo(photo.file.read(), photo.filename or "upload", max_pixels=limits.max_pixels)
        with context.model_call():
            faces = context.need_recognizer().identify(array, top_k=top_k)
        return {"image": photo.filename, "faces": [face.to_dict() for face in faces]}

    @router.get("/export", summary="Download the whole gallery (JSON, embeddings included)")
    def export() -> Any:
        recognizer = context.need_recognizer()
        folder = Path(tempfile.mkdtemp(prefix="detectkit-export-"))
        path = recognizer.export(folder / "gallery.json")

        def clean_up() -> None:
            for item in folder.iterdir():
                os.unlink(item)
            folder.rmdir()

        return FileResponse(path, media_type="application/json", filename="gallery.json", background=BackgroundTask(clean_up))

    return router
