"""A failed fine-tune leaves nothing behind that it made (issue 17, item 7): the data folder laid out
for ultralytics and an empty run folder are removed; a folder that was there before is kept."""

from __future__ import annotations

import pytest

from detectkit.errors import DetectKitError
from detectkit.training.finetune import finetune
from detectkit.training.synthetic import make_shapes_dataset


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), n_train=4, n_val=2, imgsz=64, classes=["circle"], seed=0)


def test_a_yolo_run_that_fails_in_training_removes_its_data_folder(shapes, tmp_path):
    out = tmp_path / "runs" / "exp"
    with pytest.raises(Exception) as info:
        finetune("yolov8n.yaml", shapes, epochs=1, imgsz=64, batch=2, device="cpu", out=out, progress=False,
                 plots=False, final_eval=False, optimizer="no-such-optimizer")
    assert "no-such-optimizer" in str(info.value) or isinstance(info.value, DetectKitError)
    assert not (out / "data").exists()
    leftovers = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert leftovers == [], leftovers


def test_a_failed_resume_keeps_a_data_folder_that_was_there_before(shapes, tmp_path):
    run = tmp_path / "run"
    (run / "data").mkdir(parents=True)
    (run / "data" / "mine.txt").write_text("the user's")
    (run / "weights").mkdir()
    (run / "weights" / "last.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(DetectKitError):
        finetune("yolov8n.yaml", shapes, resume=run / "weights" / "last.pt", epochs=1, imgsz=64, device="cpu", progress=False)
    assert (run / "data" / "mine.txt").read_text() == "the user's"
