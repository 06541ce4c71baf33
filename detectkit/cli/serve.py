"""``detectkit serve``: the REST API, the live view of ``--source``s and the enrolment page (extra ``[serve]``).

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["serve", "--source", "door=rtsp://cam/1", "--source", "0", "--gallery", "faces.db"])
    >>> args.host, args.port, args.source, args.model
    ('127.0.0.1', 8000, ['door=rtsp://cam/1', '0'], 'auto')
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from .options import add_model_options

TOKEN_ENV = "DETECTKIT_TOKEN"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve a REST API, live views of video sources and a face enrolment page (needs detectkit[serve])",
        description=(
            "Serve the library over HTTP: /api/detect, /api/faces/... (OpenAPI at /docs), the live view of each "
            "--source at / (MJPEG + a live list of objects and identities), and the enrolment page at /enrol. "
            "Every request but /health needs the API token (generated and printed, or --token / $DETECTKIT_TOKEN)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("--token", default=None, help=f"the API token (default: ${TOKEN_ENV}, else a new one, printed)")
    parser.add_argument("--source", action="append", default=[], metavar="[NAME=]SOURCE",
                        help="a camera index, video file, image folder or rtsp:// URL to show live (repeatable); files loop")
    add_model_options(parser, "auto")
    parser.add_argument("--track", action="store_true", help="give objects track ids on the streams (ByteTrack)")
    parser.add_argument("--gallery", default=None, metavar="FILE", help="face gallery (SQLite; created when missing): enables /api/faces and names on the streams")
    parser.add_argument("--face-weights", default="auto",
                        help="face embedder: a registered name (auto, facenet, dlib-resnet, hog-face, onnx, ...) or FaceNet "
                        "weights (name or file) (default: auto: FaceNet when its weights are here, else dlib-resnet)")
    parser.add_argument("--face-threshold", type=float, default=None, help="face similarity threshold (default: the model's)")
    parser.add_argument("--face-identity", choices=("track", "frame"), default="track",
                        help="on the streams: identify each face track and vote (track), or every face in every frame (frame)")
    parser.add_argument("--fps", type=float, default=None, help="pace of looped files (default: their own frame rate)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body in MB (default: 20)")
    parser.add_argument("--max-pixels", type=int, default=None, help="largest uploaded image in pixels (default: 40 million)")
    parser.add_argument("--max-files", type=int, default=20, help="most photos in one enrolment (default: 20)")
    parser.add_argument("--api-model-slots", type=int, default=1, metavar="N",
                        help="API requests running a model at once; the streams wait behind at most N (default: 1)")
    parser.epilog = "--model auto: a local COCO YOLO, else yolo11n.pt downloaded; --model none: no object detection"
    parser.set_defaults(func=serve)


def _say(message: str) -> None:
    print(f"detectkit serve: {message}", file=sys.stderr, flush=True)


def make_recognizer(args: argparse.Namespace) -> Any:
    """The FaceRecognizer over ``--gallery`` (:func:`detectkit.factories.make_recognizer`).

    A missing gallery file is created empty first: people are enrolled through the server.
    """
    from ..factories import make_recognizer as recognizer_for
    from ..faces import Gallery

    if not Path(args.gallery).exists():
        Gallery(args.gallery, create=True).close()
    return recognizer_for(args.gallery, embedder=args.face_weights, threshold=args.face_threshold, device=args.device)


def make_detector(args: argparse.Namespace) -> Any:
    """The Detector the options ask for (:func:`detectkit.factories.make_detector`), ``None`` for ``--model none``."""
    from ..factories import make_detector as detector_for

    return detector_for(args.model, device=args.device, conf=args.conf, iou=args.iou, classes=args.classes,
                        max_det=args.max_det, imgsz=args.imgsz)


def build(args: argparse.Namespace) -> tuple[Any, str, bool]:
    """``(app, token, token_was_given)`` from the options; the models are loaded here."""
    from ..serve import ServeSettings, check_bind, create_app, generate_token
    from ..serve.sources import parse_source
    from ..serve.streams import LiveStream, StreamHub

    given = args.token or os.environ.get(TOKEN_ENV) or None
    check_bind(args.host, explicit_token=given is not None)
    token = given or generate_token()
    limits: dict[str, Any] = {"max_upload_bytes": int(args.max_upload_mb * 1024 * 1024), "max_files": args.max_files,
                              "api_model_slots": args.api_model_slots}
    if args.max_pixels is not None:
        limits["max_pixels"] = args.max_pixels
    settings = ServeSettings(token=token, **limits)
    named = [parse_source(text, i) for i, text in enumerate(args.source)]
    detector = make_detector(args)
    recognizer = make_recognizer(args) if args.gallery else None
    hub = StreamHub()
    for name, spec in named:
        hub.add(LiveStream(name, spec, detector=detector, recognizer=recognizer, track=args.track,
                           face_identity=args.face_identity, fps=args.fps))
    return create_app(settings, detector=detector, recognizer=recognizer, hub=hub), token, given is not None


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
    except ImportError:
        _say("needs FastAPI and uvicorn: pip install 'detectkit[serve]'")
        return 2
    app, token, given = build(args)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    base = f"http://{shown}:{args.port}"
    _say(f"listening on {base} (health: {base}/health, API: {base}/docs)")
    if given:
        _say("API token: the one given with --token / $" + TOKEN_ENV)
    else:
        _say(f"API token: {token}")
        _say(f"open {base}/?token={token}")
    import logging

    from ..serve.auth import RedactTokens

    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)  # its Config set up uvicorn's loggers: the access log must not show ?token=
    for name in ("uvicorn.access", "uvicorn.error"):
        logging.getLogger(name).addFilter(RedactTokens())
    server.run()
    return 0
