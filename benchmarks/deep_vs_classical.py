"""Deep learning vs classical computer vision on the shared data: the `detectkit compare` report.

    python benchmarks/deep_vs_classical.py                      # everything (1 min 42 s on 2 CPU cores without the FaceNet and Faster R-CNN weights)
    python benchmarks/deep_vs_classical.py --limit 10           # a quick smoke run
    python benchmarks/deep_vs_classical.py --out bench-out --task face-identification

Writes report.md, report.json and chart.png into --out (default: deep-vs-classical/) and
prints the Markdown report (for docs/benchmarks.md). Same options as `detectkit compare`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from detectkit.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv = ["--out", str(Path("deep-vs-classical")), *argv]
    sys.exit(main(["compare", *argv]))
