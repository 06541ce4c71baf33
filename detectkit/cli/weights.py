"""``detectkit weights [NAME...]``: where model files are searched, and which known ones are here."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="show where model files are looked for and which are present",
        description="List the folders searched for model files and, for each known model, the file found (if any). "
        "Never downloads.",
    )
    parser.add_argument("names", nargs="*", help="known names to check (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import WeightsError
    from ..weights import KNOWN_WEIGHTS, resolve_weights, search_dirs

    print("searched, in order:")
    for folder, label in search_dirs():
        print(f"  {folder}  ({label}){'' if folder.is_dir() else '  [absent]'}")
    print("  + the library's own cache (torch hub / ultralytics weights_dir), then a download")
    names = args.names or sorted(KNOWN_WEIGHTS)
    print("known models:")
    for name in names:
        try:
            where = str(resolve_weights(name, download=False))
        except WeightsError as exc:
            where = "missing" if "not found" in str(exc) else f"BAD: {str(exc).splitlines()[0]}"
        print(f"  {name:40s} {where}")
    return 0
