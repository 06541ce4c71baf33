"""``detectkit faces ...``: enrol people into a gallery file, verify, identify, manage, calibrate.

Sub-commands::

    detectkit faces enroll NAME IMAGE... [--meta KEY=VALUE] [--replace] [--strict]
    detectkit faces verify IMAGE NAME        exit 0: it is NAME, 3: it is not
    detectkit faces identify IMAGE... [--top-k K]
    detectkit faces list
    detectkit faces remove NAME
    detectkit faces rename OLD NEW
    detectkit faces export FILE              .json, or an SQLite copy
    detectkit faces import FILE [--on-conflict error|skip|merge|replace]
    detectkit faces calibrate PAIRS [--images DIR] [--target-far 0.001] [--plot roc.png]

Every sub-command takes ``--db FILE`` or ``--db postgresql://user@host/db`` (default:
``$DETECTKIT_GALLERY`` or ``faces.db``); ``export``/``import`` take a file or a gallery URL,
so they move a gallery between SQLite and PostgreSQL either way;
those that embed faces also take ``--weights`` (default ``auto``: FaceNet when its weights are here,
else dlib-resnet),
``--device`` and ``--threshold``; ``--json`` prints JSON instead of text.

Example:
    >>> from detectkit.cli import build_parser
    >>> args = build_parser().parse_args(["faces", "verify", "door.jpg", "Ann", "--db", "people.db"])
    >>> args.image, args.name, args.db, args.weights, args.func is run_verify, NOT_VERIFIED
    ('door.jpg', 'Ann', 'people.db', 'auto', True, 3)
    >>> build_parser().parse_args(["faces", "import", "backup.json", "--on-conflict", "skip"]).on_conflict
    'skip'
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

NOT_VERIFIED = 3
"""Exit status of ``faces verify`` when the photo is not the person."""


def _common(parser: argparse.ArgumentParser, *, model: bool) -> None:
    default_db = os.environ.get("DETECTKIT_GALLERY", "faces.db")
    parser.add_argument("--db", default=default_db, help=f"gallery file or postgresql:// URL (default: $DETECTKIT_GALLERY or faces.db; now {default_db})")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    if model:
        parser.add_argument(
            "--weights", default="auto",
            help="face embedder: auto (default: FaceNet if its weights are here, else dlib-resnet), dlib-resnet, "
                 "facenet-vggface2, facenet-casia-webface, a FaceNet state-dict file, or another registered embedder",
        )
        parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default: auto)")
        parser.add_argument("--threshold", type=float, default=None, help="similarity threshold (default: the model's documented one)")


def _action(actions: Any, name: str, func: Any, help: str, *, model: bool, args: tuple = (), **extra: Any) -> None:
    """One sub-command: its positional/optional arguments as ``(flags, options)`` pairs."""
    parser = actions.add_parser(name, help=help, **extra)
    for flags, options in args:
        parser.add_argument(*flags, **options)
    _common(parser, model=model)
    parser.set_defaults(func=func)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "faces",
        help="enrol, verify and identify faces against a gallery file",
        description="Face recognition against a persistent gallery (an SQLite file).",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    name, images = (("name",), {}), (("images",), {"nargs": "+", "metavar": "IMAGE"})
    _action(actions, "enroll", run_enroll, "enrol a person from photos", model=True, args=(
        name, images,
        (("--meta",), {"action": "append", "default": [], "metavar": "KEY=VALUE", "help": "metadata to store (repeatable)"}),
        (("--replace",), {"action": "store_true", "help": "drop the person's previous embeddings of this model"}),
        (("--strict",), {"action": "store_true", "help": "enrol nothing if any photo is rejected"}),
    ), description="Enrol NAME from photos (files, folders, globs). Each photo must show exactly one clear face; "
                   "the others are reported with the reason.")
    _action(actions, "verify", run_verify, "is this photo NAME? (exit 0 yes, 3 no)", model=True,
            args=((("image",), {}), name))
    _action(actions, "identify", run_identify, "who is in these photos?", model=True, args=(
        images, (("--top-k",), {"type": int, "default": 1, "help": "candidates per face (default: 1)"}),
    ))
    _action(actions, "list", run_list, "list enrolled people", model=False)
    _action(actions, "remove", run_remove, "delete a person", model=False, args=(name,))
    _action(actions, "rename", run_rename, "rename a person", model=False, args=((("old",), {}), (("new",), {})))
    _action(actions, "export", run_export, "export the gallery (.json, an SQLite copy, or a postgresql:// gallery)", model=False,
            args=((("file",), {}),))
    _action(actions, "import", run_import, "import an exported gallery (file or postgresql:// URL)", model=False, args=(
        (("file",), {}),
        (("--on-conflict",), {"choices": ["error", "skip", "merge", "replace"], "default": "error",
                              "help": "when a name exists already (default: error, nothing imported)"}),
    ))
    _action(actions, "calibrate", run_calibrate, "measure the threshold on labelled pairs (LFW pairs.txt)", model=True, args=(
        (("pairs",), {"help": "LFW pairs.txt, or lines 'IMAGE_A IMAGE_B 1|0'"}),
        (("--images",), {"default": None, "help": "folder of the LFW images (default: next to PAIRS)"}),
        (("--target-far",), {"type": float, "default": 1e-3, "help": "false-accept rate to stay under (default: 0.001)"}),
        (("--plot",), {"default": None, "help": "save the ROC curve and score histograms to this image"}),
    ))


def _gallery(args: argparse.Namespace, *, create: bool = False) -> Any:
    from ..faces import Gallery

    return Gallery(args.db, create=create)


def _recognizer(args: argparse.Namespace, *, create: bool = False) -> Any:
    from ..faces import FaceRecognizer

    # the recogniser opens (or creates) the gallery after its models load: bad weights leave no file
    return FaceRecognizer(args.db, embedder=args.weights, device=args.device, threshold=args.threshold, create=create)


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, ensure_ascii=False) if args.json else text)


def _metadata(pairs: list[str]) -> dict[str, str]:
    meta = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--meta {item!r}: expected KEY=VALUE")
        meta[key.strip()] = value
    return meta


def run_enroll(args: argparse.Namespace) -> int:
    from ..faces.gallery import validate_name
    from ..images import find_images

    validate_name(args.name)  # a bad name fails before the models load
    meta = _metadata(args.meta)
    paths = find_images(args.images)
    recognizer = _recognizer(args, create=True)
    try:
        report = recognizer.enroll(args.name, paths, metadata=meta or None, replace=args.replace, strict=args.strict)
    finally:
        recognizer.close()
    _print(args, report.to_dict(), report.summary())
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..errors import GalleryError
    from ..faces.gallery import validate_name

    name = validate_name(args.name)
    with _gallery(args) as gallery:  # an unknown name fails before the models load
        if name not in gallery:
            raise GalleryError(f"{gallery.path}: no identity named {name!r}")
    recognizer = _recognizer(args)
    try:
        result = recognizer.verify(args.image, args.name)
    finally:
        recognizer.close()
    verdict = "yes" if result.verified else "no"
    _print(
        args,
        result.to_dict(),
        f"{args.image}: {verdict}, {result.name} (similarity {result.similarity:.3f}, threshold {result.threshold:.3f})",
    )
    return 0 if result.verified else NOT_VERIFIED


def run_identify(args: argparse.Namespace) -> int:
    from ..images import find_images

    paths = find_images(args.images)
    recognizer = _recognizer(args)
    try:
        for path in paths:
            faces = recognizer.identify(path, top_k=args.top_k)
            if args.json:
                print(json.dumps({"source": str(path), "faces": [f.to_dict() for f in faces]}, ensure_ascii=False))
                continue
            if not faces:
                print(f"{path}: no face")
            for face in faces:
                box = ",".join(f"{v:.0f}" for v in face.box)
                who = face.identity or "unknown"
                others = ", ".join(f"{m.name} {m.similarity:.3f}" for m in face.candidates)
                print(f"{path}: [{box}] {who} ({face.similarity:.3f})" + (f"; candidates: {others}" if args.top_k > 1 else ""))
    finally:
        recognizer.close()
    return 0


def run_list(args: argparse.Namespace) -> int:
    with _gallery(args) as gallery:
        people = gallery.identities()
    if args.json:
        print(json.dumps([p.to_dict() for p in people], ensure_ascii=False))
        return 0
    if not people:
        print(f"{gallery.path}: nobody enrolled")
    for person in people:
        models = "; ".join(f"{n} x {key}" for key, n in person.embeddings.items()) or "no embeddings"
        meta = f"  {json.dumps(person.metadata, ensure_ascii=False)}" if person.metadata else ""
        print(f"{person.name}: {models}{meta}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with _gallery(args) as gallery:
        count = gallery.remove(args.name)
    _print(args, {"removed": args.name, "embeddings": count}, f"removed {args.name} ({count} embeddings)")
    return 0


def run_rename(args: argparse.Namespace) -> int:
    with _gallery(args) as gallery:
        gallery.rename(args.old, args.new)
    _print(args, {"renamed": args.old, "to": args.new}, f"renamed {args.old} to {args.new}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    with _gallery(args) as gallery:
        target = gallery.export(args.file)
        count = len(gallery)
    _print(args, {"exported": str(target), "identities": count}, f"exported {count} people to {target}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    from ..faces.gallery_io import import_people, read_people, refuse_itself

    people = read_people(args.file)  # a bad file fails before a new gallery is made
    with _gallery(args, create=True) as gallery:
        refuse_itself(gallery.store, args.file)
        counts = import_people(gallery.store, people, on_conflict=args.on_conflict, source=str(args.file))
    _print(
        args,
        counts,
        f"imported {counts['identities']} people ({counts['embeddings']} embeddings), skipped {counts['skipped']}",
    )
    return 0


def run_calibrate(args: argparse.Namespace) -> int:
    from ..faces.calibration import read_pairs

    from ..faces import FaceRecognizer

    pairs = read_pairs(args.pairs, args.images)  # a bad pairs file fails before the models load
    recognizer = FaceRecognizer(None, embedder=args.weights, device=args.device, threshold=args.threshold)  # no gallery needed
    try:
        result = recognizer.calibrate(pairs, target_far=args.target_far, plot=args.plot)
    finally:
        recognizer.close()
    data = result.to_dict()
    data["model"] = str(recognizer.embedder.key)
    text = result.summary() + f"\nuse it: --threshold {result.threshold:.4f}  (model {recognizer.embedder.key})"
    if args.plot:
        text += f"\nplot: {args.plot}"
    _print(args, data, text)
    return 0
