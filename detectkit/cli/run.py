"""``detectkit run SOURCE``: objects (and known faces) on a webcam, a video file, a stream or images.

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["run", "0", "--track", "--batch", "4"])
    >>> args.source, args.track, args.batch, args.mode
    ('0', True, 4, 'auto')
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .options import add_model_options

if TYPE_CHECKING:  # pragma: no cover
    from ..detection import Detector
    from ..faces import FaceRecognizer


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run detection (and face recognition) on a webcam, video, stream or images",
        description=(
            "Run the video pipeline on SOURCE: a webcam index (0), a video file, an RTSP/HTTP URL, "
            "or an image folder or glob. Show it, save it annotated, and/or write JSON lines; "
            "statistics are printed at the end. Ctrl-C stops cleanly (outputs stay complete)."
        ),
    )
    parser.add_argument("source", metavar="SOURCE", help="webcam index, video file, stream URL, image folder or glob")
    add_model_options(parser, "auto", runtime="auto")
    parser.add_argument("--faces", metavar="GALLERY", default=None, help="recognise faces enrolled in this gallery")
    parser.add_argument(
        "--face-identity", choices=("track", "frame"), default="track",
        help="identify each tracked face once and vote (track, default) or every face in every frame (frame)",
    )
    parser.add_argument("--face-detect-every", type=int, default=1, metavar="N",
                        help="with --face-identity track: look for faces on every N-th frame, track them in between (default: 1)")
    parser.add_argument("--face-weights", default="auto",
                        help="face embedder for --faces: auto (default: FaceNet if its weights are here, else dlib-resnet), "
                             "dlib-resnet, facenet-vggface2 or a FaceNet weights file")
    parser.add_argument("--face-threshold", type=float, default=None, help="face similarity threshold (default: the model's)")
    parser.add_argument("--track", action="store_true", help="give objects track ids (ByteTrack)")
    parser.add_argument("--show", action="store_true", help="show a window (q or Esc quits)")
    parser.add_argument("--save", type=Path, default=None, metavar="OUT.mp4", help="write the annotated video here")
    parser.add_argument("--json", dest="json_path", default=None, metavar="OUT.jsonl", help="write per-frame JSON lines ('-': stdout)")
    parser.add_argument("--batch", type=int, default=None, help="frames per model call (default: file mode 8 on CUDA, 1 on CPU; live mode 1)")
    parser.add_argument("--mode", choices=("auto", "live", "file"), default="auto",
                        help="live: newest frames only; file: every frame in order (default: live for cameras and streams)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--stride", type=int, default=1, help="video files: process every N-th frame (default: 1, all)")
    parser.add_argument("--no-overlay", action="store_true", help="do not draw FPS and latency on the frames")
    parser.epilog = "--model auto: a local COCO YOLO (yolo11n.pt, yolov8n.pt, yolov8n_int8.onnx), else yolo11n.pt downloaded; --model none: faces only"
    parser.set_defaults(func=run)


def _say(message: str) -> None:
    print(f"detectkit run: {message}", file=sys.stderr, flush=True)


def _detector(args: argparse.Namespace) -> "Detector | None":
    """The Detector the options ask for (:func:`detectkit.factories.make_detector`), or ``None`` for ``--model none``.

    Example:
        >>> from detectkit.cli import build_parser
        >>> _detector(build_parser().parse_args(["run", "0", "--model", "none"])) is None
        True
    """
    from ..factories import make_detector

    return make_detector(
        args.model, device=args.device, conf=args.conf, iou=args.iou, classes=args.classes, max_det=args.max_det,
        imgsz=args.imgsz, runtime=getattr(args, "runtime", None),
    )


def _recognizer(args: argparse.Namespace) -> "FaceRecognizer":
    """A FaceRecognizer over the ``--faces`` gallery (:func:`detectkit.factories.make_recognizer`)."""
    from ..factories import make_recognizer

    return make_recognizer(args.faces, embedder=args.face_weights, threshold=args.face_threshold, device=args.device)


def run(args: argparse.Namespace) -> int:
    from ..detections import Detections
    from ..video.pipeline import Pipeline
    from ..video.sinks import WindowSink
    from ..factories import summarize_labels
    from ..video.sources import CaptureSource, open_source

    # the source first: a wrong path fails at once, before any model is loaded
    source = CaptureSource(args.source, stride=args.stride) if args.stride != 1 else open_source(args.source)
    detector = _detector(args)
    recognizer = _recognizer(args) if args.faces else None
    if detector is None and recognizer is None:
        _say("nothing to run: --model none and no --faces")
        return 2
    from ..runtimes.face_nets import faces_on_runtime

    if detector is not None:
        _say(f"objects: {detector.model_name} on {detector.runtime}")
    if recognizer is not None:
        _say(f"faces: {faces_on_runtime(recognizer, getattr(args, 'runtime', None))}")
    sinks: list = []
    if args.show:
        sinks.append(WindowSink(f"detectkit: {args.source}"))
    if args.save is not None:
        sinks.append(str(args.save))
    if args.json_path is not None:
        sinks.append(args.json_path)
    to_stdout = args.json_path != "-"
    if not sinks and to_stdout:  # nothing else asked for: say what each frame holds

        def print_frame(result, image) -> None:
            faces = result.faces if result.faces is not None else Detections.empty()
            names = [("unknown" if n is None else str(n)) for n in (faces.identity if faces.identity is not None else [])]
            text = summarize_labels(result.detections.labels)
            if len(faces):
                text += f"; faces: {', '.join(names) if names else len(faces)}"
            print(f"frame {result.index}: {text}", flush=True)

        from ..video.sinks import CallbackSink

        sinks.append(CallbackSink(print_frame, needs_image=False))
    pipeline = Pipeline(
        source,
        detector=detector,
        faces=recognizer,
        track=args.track,
        batch_size=args.batch,
        mode=args.mode,
        face_identity=args.face_identity,
        face_options={"detect_every": args.face_detect_every} if args.face_identity == "track" else None,
        max_frames=args.max_frames,
        overlay=not args.no_overlay,
        report=_say,
    )
    log = print if to_stdout else (lambda text: print(text, file=sys.stderr))
    stats = pipeline.run(sinks, summary=True, log=log)
    if args.save is not None:
        log(f"saved {args.save}")
    return 0 if stats.frames_processed else 1
