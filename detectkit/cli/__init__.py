"""``detectkit``: the command line, a thin layer over the Python API.

Each sub-command lives in its own module here and exposes ``register(subparsers)``,
which adds its parser and sets ``func(args) -> int`` as the handler. Errors that
detectkit raises on purpose end the program with exit status 1 and one line on
stderr; usage errors exit with 2; Ctrl-C with 130.

Example:
    >>> from detectkit.cli import build_parser
    >>> build_parser().parse_args(["detect", "a.jpg", "--conf", "0.5"]).conf
    0.5
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import Sequence

__all__ = ["main", "build_parser"]

# sub-command modules, in the order `detectkit --help` lists them
COMMANDS = ["detect", "run", "batch", "faces", "demo", "weights", "data", "val", "train", "export", "compare", "serve"]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="detectkit",
        description="Object detection, fine-tuning, face recognition and live video.",
    )
    parser.add_argument("--version", action="version", version=f"detectkit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from ..errors import DetectKitError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("detectkit: interrupted", file=sys.stderr)
        return 130
    except (DetectKitError, FileNotFoundError, ValueError) as exc:
        message = str(exc).strip() or type(exc).__name__
        first, *rest = message.splitlines()
        print(f"detectkit {args.command}: error: {first}", file=sys.stderr)
        for line in rest:  # multi-line errors (where weights were searched) keep their detail
            print(f"  {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
