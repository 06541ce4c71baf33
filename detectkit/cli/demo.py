"""``detectkit demo``: the README's first command.

With a webcam and a display it is the live demo (objects and enrolled faces in a window);
anywhere else it runs the pipeline on a clip built from scikit-image's sample photos and
saves it annotated. ``--clip`` or ``--live`` chooses explicitly.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="the live webcam demo, or (no webcam/display) the pipeline on a built-in clip",
        description=(
            "With a webcam and a display: objects and enrolled faces labelled live (q or Esc quits). "
            "Otherwise: a short clip made from scikit-image's sample photos goes through the whole video "
            "pipeline (detector, tracker, faces) and is saved annotated, with a summary. Missing model "
            "weights are named with how to get them; the rest runs."
        ),
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--live", action="store_true", help="the webcam demo (fails when no camera/display)")
    which.add_argument("--clip", action="store_true", help="the built-in clip, even when a webcam is there")
    parser.add_argument("--camera", type=int, default=0, help="webcam index for the live demo (default: 0)")
    parser.add_argument("--gallery", default=None, help="faces for the live demo (default: $DETECTKIT_GALLERY or faces.db)")
    parser.add_argument("--model", "-m", default="auto", help="detector (default: auto = a local COCO YOLO, else yolo11n.pt; none: no objects)")
    parser.add_argument("--no-faces", action="store_true", help="leave faces out")
    parser.add_argument("--out", type=Path, default=None, help="output folder of the clip demo (default: demo-output)")
    parser.add_argument("--save", type=Path, default=None, help="live demo: also save the annotated video here")
    parser.add_argument("--frames-per-scene", type=int, default=10, help="clip length: frames per sample photo (default: 10)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--runtime", choices=("auto", "torch", "onnx", "openvino"), default="auto",
                        help="where the models run (default: auto = OpenVINO on a CPU, converted once and cached)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import default_out_dir, live_available, run_clip_demo, run_live_demo
    from ..errors import SourceError

    model = None if str(args.model).lower() == "none" else args.model
    live = args.live
    if not args.live and not args.clip:
        live, why = live_available(args.camera)
        if not live:
            print(f"no live demo here ({why}): running the pipeline on the built-in clip instead")
    elif args.live:
        ok, why = live_available(args.camera)
        if not ok:
            raise SourceError(f"cannot run the live demo: {why} (try: detectkit demo --clip)")
    if live:
        report = run_live_demo(args.camera, model=model, gallery=args.gallery, device=args.device, save=args.save,
                                runtime=args.runtime)
        for reason in report.skipped:
            print(f"not run: {reason}")
        return 0
    out = args.out or default_out_dir()
    report = run_clip_demo(out, model=model, device=args.device, faces=not args.no_faces, frames_per_scene=args.frames_per_scene,
                           runtime=args.runtime)
    if report.video is not None:
        print(f"wrote {report.video} ({report.stats.get('frames_processed', 0)} frames) and {len(report.written) - 1} stills to {out}/")
    for reason in report.skipped:
        print(f"not run: {reason}")
    return 0 if report.video is not None else 1
