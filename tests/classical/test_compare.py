"""The deep-vs-classical report: every expected row (not-run ones included) on a tiny subset, files, CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detectkit.cli import main
from detectkit.compare import CompareConfig, ComparisonReport, Row, run_comparison
from detectkit.compare.tasks import _find_weights

from shared_data import SHARED, need_shared

EXPECTED = {
    "person detection": ["HOG + linear SVM (OpenCV people)", "YOLO (yolov8n_int8.onnx)", "Faster R-CNN ResNet-50 FPN v2"],
    "face detection": ["Haar cascade (frontalface_default)", "MTCNN"],
    "face identification": ["HOG + k-NN", "HOG + SVM", "FaceNet (vggface2) + k-NN", "FaceNet (vggface2) + SVM",
                            "dlib-resnet + k-NN", "dlib-resnet + SVM"],
}
DATA_SETS = {"person detection": 1, "face detection": 2, "face identification": 2}


@pytest.fixture(scope="module")
def tiny() -> ComparisonReport:
    need_shared("data/faces/orl")
    return run_comparison(CompareConfig(shared=SHARED, limit=2), command="pytest")


def test_every_expected_row(tiny: ComparisonReport) -> None:
    for task, models in EXPECTED.items():
        rows = [r for r in tiny.rows if r.task == task]
        assert len(rows) == len(models) * DATA_SETS[task], [r.model for r in rows]
        assert sorted({r.model for r in rows}) == sorted(models)
    weights_here = {
        "Faster R-CNN ResNet-50 FPN v2": _find_weights("fasterrcnn_resnet50_fpn_v2", "torchvision")[0] is not None,
        "FaceNet (vggface2)": _find_weights("facenet-vggface2", "facenet")[0] is not None,
    }
    for row in tiny.rows:
        deep_model = next((m for m in weights_here if row.model.startswith(m)), None)
        if deep_model and not weights_here[deep_model]:
            assert row.status == "not run: weights missing" and "DETECTKIT_WEIGHTS" in row.how_to, row
            assert not row.metrics
        else:
            assert row.ran, row
            assert row.metrics, row
            assert row.ms is not None and row.ms > 0
    columns: dict[tuple[str, str], set] = {}  # every model that ran on a data set is scored on the same metrics
    for r in tiny.rows:
        if r.ran:
            columns.setdefault((r.task, r.data), set()).add(tuple(sorted(r.metrics)))
    assert columns and all(len(c) == 1 for c in columns.values()), columns
    hog_orl = next(r for r in tiny.rows if r.model == "HOG + k-NN" and r.data.startswith("ORL"))
    assert hog_orl.data == "ORL (2 people, 5 enrolled + 5 probes each)" and hog_orl.metrics["top-1"] >= 0.8


def test_written_report(tiny: ComparisonReport, tmp_path: Path) -> None:
    paths = tiny.write(tmp_path / "out")
    text = paths["markdown"].read_text()
    for heading in ("## Person detection", "## Face detection", "## Face identification", "## Notes"):
        assert heading in text
    not_run = [r for r in tiny.rows if not r.ran]
    assert ("## Not run" in text) == bool(not_run)  # the section is there exactly when some row did not run
    section = text.split("## Not run", 1)[-1].split("\n## ", 1)[0]
    for row in not_run:  # each one named with how to provide its weights
        assert f"**{row.model}**" in section and row.how_to in section, row
    assert "Machine: " in text and "opencv 4." in text and "torch " in text and "Command: `pytest`" in text
    assert "multiface.jpg: 6 (counted by eye" in text
    for models in EXPECTED.values():
        for model in models:
            assert model in text
    png = paths["chart"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
    import json

    data = json.loads(paths["json"].read_text())
    assert len(data["rows"]) == len(tiny.rows) and data["environment"]["opencv"].startswith("4.")


def test_missing_yolo_file_is_a_not_run_row(tmp_path: Path) -> None:
    need_shared("data/detection/pennfudan")
    report = run_comparison(CompareConfig(shared=SHARED, limit=1, tasks=["person detection"], yolo=str(tmp_path / "absent.onnx")))
    yolo = next(r for r in report.rows if r.model.startswith("YOLO"))
    assert yolo.status == "not run: weights missing" and "--yolo" in yolo.how_to and "absent.onnx" in yolo.how_to
    assert next(r for r in report.rows if r.model.startswith("HOG")).ran


@pytest.mark.slow
def test_facenet_rows_run_when_weights_are_there(tmp_path: Path) -> None:
    """The deep branch is wired: given a FaceNet state dict (random here, so labelled by its file), its rows run."""
    import torch
    from facenet_pytorch import InceptionResnetV1

    need_shared("data/faces/orl")
    torch.manual_seed(0)
    weights = tmp_path / "untrained-facenet.pt"
    torch.save(InceptionResnetV1().state_dict(), weights)
    report = run_comparison(CompareConfig(shared=SHARED, limit=2, tasks=["face identification"], facenet=str(weights)))
    facenet = [r for r in report.rows if r.model.startswith("FaceNet (untrained-facenet.pt)")]
    hog = {(r.model.replace("HOG", "FaceNet (untrained-facenet.pt)"), r.data): r for r in report.rows if r.model.startswith("HOG")}
    # a random network scores anything, so the check is that its rows are the HOG rows' twins, not a range
    assert len(facenet) == 4 and all(r.ran and r.ms > 0 for r in facenet)
    assert all(set(r.metrics) == set(hog[r.model, r.data].metrics) for r in facenet), [(r.model, r.data) for r in facenet]
    assert not any("vggface2" in r.model for r in report.rows)


def test_cli_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    need_shared("data/faces/orl")
    out = tmp_path / "cli"
    status = main(["compare", "--shared", str(SHARED), "--limit", "1", "--task", "face-identification", "--out", str(out)])
    assert status == 0
    assert {p.name for p in out.iterdir()} == {"report.md", "report.json", "chart.png"}
    assert "## Face identification" in capsys.readouterr().out
    command = f"detectkit compare --out {out} --shared {SHARED} --limit 1 --task face-identification"
    assert f"Command: `{command}`" in (out / "report.md").read_text()  # not pytest's own command line
    assert main(["compare", "--shared", str(tmp_path / "nowhere"), "--limit", "1", "--out", str(out)]) == 1
    error = capsys.readouterr().err
    assert "nowhere" in error and "--shared" in error
    assert (out / "report.md").exists(), "a failed run keeps the earlier report"


def test_report_tables_ratios_and_chart(tmp_path: Path) -> None:
    rows = [
        Row("face detection", "LFW (2 photos)", "Haar", "classical", {"recall": 1.0, "precision": 0.5}, ms=10.0),
        Row("face detection", "LFW (2 photos)", "MTCNN", "deep", {"recall": 1.0, "precision": 1.0}, ms=25.0),
        Row("person detection", "Penn-Fudan", "Faster R-CNN", "deep", status="not run: weights missing", how_to="put it in ./weights"),
    ]
    report = ComparisonReport(rows, {"cpu": "test cpu", "opencv": "4.x"})
    tables = report.tables()
    assert list(tables) == ["person detection", "face detection"]
    assert "| Penn-Fudan | Faster R-CNN | deep | not run: weights missing | -" in tables["person detection"]
    assert report.ratios() == ["face detection, LFW (2 photos): MTCNN takes 2.50x the time of Haar"]
    assert "- **Faster R-CNN**: put it in ./weights" in report.to_markdown()
    chart = report.plot(tmp_path / "c.png")
    assert chart.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="unknown task"):
        CompareConfig(tasks=["sorting"])
    assert np.isclose(rows[1].ms / rows[0].ms, 2.5)
