"""demos/enrol_and_verify.py end to end: enrols the five example people into an SQLite gallery that
outlives the run, identifies the test photos, and says plainly when the FaceNet weights are missing.

The FaceNet weights here are the tests' seeded random network (see conftest), so the test checks
what the demo does (enrolment, persistence, one line per test photo), not who it recognises."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demos" / "enrol_and_verify.py"


def _demo(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, DETECTKIT_OFFLINE="1", OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, str(DEMO), "--device", "cpu", *args], capture_output=True, text=True,
                          env=env, timeout=600)


@pytest.mark.slow
def test_demo_enrols_the_examples_into_a_gallery_that_persists(shared, facenet_file, tmp_path):
    examples = shared("data/faces/face_recognition_examples/examples/knn_examples")
    db = tmp_path / "faces.db"
    args = ("--train", str(examples / "train"), "--test", str(examples / "test"), "--db", str(db),
            "--weights", str(facenet_file))
    first = _demo(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "0 people before" in first.stdout
    tests = sorted(p.name for p in (examples / "test").iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    for name in tests:
        assert f"\n{name}: " in first.stdout, (name, first.stdout)
    assert "verify " in first.stdout and "threshold" in first.stdout

    from detectkit.faces.gallery import Gallery

    with Gallery(db) as gallery:
        assert sorted(gallery.names()) == sorted(p.name for p in (examples / "train").iterdir() if p.is_dir())
    again = _demo(*args)  # re-enrolling replaces, never duplicates
    assert again.returncode == 0 and "5 people before" in again.stdout, again.stderr[-2000:]
    with Gallery(db) as gallery:
        assert len(gallery) == 5


def test_demo_without_weights_says_where_it_looked(shared, tmp_path):
    examples = shared("data/faces/face_recognition_examples/examples/knn_examples")
    missing = tmp_path / "no-such-facenet.pt"
    done = _demo("--train", str(examples / "train"), "--test", str(examples / "test"), "--db", str(tmp_path / "f.db"),
                 "--weights", str(missing))
    assert done.returncode == 1
    assert "cannot name faces without FaceNet weights" in done.stderr and str(missing) in done.stderr
    assert "Traceback" not in done.stderr
