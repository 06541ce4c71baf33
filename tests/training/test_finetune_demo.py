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
    assert score and 0.0 <= float(score[2]) <= float(score[1]) <= 1.0, done.stdout
    assert (out / "weights" / "best.pt").is_file() and (out / "metrics.csv").is_file()
    assert len(re.findall(r"found (?:\d+ circle|nothing); labelled (?:\d+ circle|nothing)", done.stdout)) == 3, done.stdout
