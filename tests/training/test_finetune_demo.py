"""demos/finetune.py end to end on its generated circles: trains, scores best.pt with pycocotools and
loads it into a Detector that speaks the new class name (one epoch here; the demo's 16 are what the
learning test in test_finetune_torchvision.py checks)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_finetune_demo_trains_scores_and_reloads(tmp_path):
    out = tmp_path / "runs" / "demo"
    done = subprocess.run(
        [sys.executable, str(REPO / "demos" / "finetune.py"), "--epochs", "1", "--out", str(out), "--device", "cpu"],
        capture_output=True, text=True, env=dict(os.environ, DETECTKIT_OFFLINE="1"), timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "classes ['circle']" in done.stdout
    score = re.search(r"best\.pt on val: mAP@0\.5 ([0-9.]+), mAP@0\.5:0\.95 ([0-9.]+)", done.stdout)
    assert score, done.stdout
    assert (out / "weights" / "best.pt").is_file() and (out / "metrics.csv").is_file()
    # one epoch from scratch learns little, so the check is that the demo's score is best.pt's: the same
    # pycocotools figures the training loop wrote for the epoch that became best.pt (not a range)
    import csv

    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert len(rows) == 1, rows
    assert abs(float(score[1]) - float(rows[0]["val/map50"])) <= 0.0005 + 1e-9, (score[0], rows[0])
    assert abs(float(score[2]) - float(rows[0]["val/map"])) <= 0.0005 + 1e-9, (score[0], rows[0])
    assert len(re.findall(r"found (?:\d+ circle|nothing); labelled (?:\d+ circle|nothing)", done.stdout)) == 3, done.stdout
