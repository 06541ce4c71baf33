"""The README's commands, as written, do what the README says they do.

The commands are read out of README.md's ```bash and ```python blocks (not retyped here), so a
README edit that breaks a command breaks this module:

* every ``detectkit ...`` line parses with the real command line (unknown options and
  sub-commands fail), every ``pip install -e ".[extra]"`` names an extra of pyproject.toml, and
  every python block compiles and imports only names that ``detectkit`` has;
* every README command is listed in ``COVERED`` with the test that runs it and checks what the
  README claims for it; a new README command with no test fails ``test_every_readme_command_has_a_test``;
* the commands that can run here run in this module, in a fresh folder, and their results are
  checked against the README's words: the fine-tuning example (``data shapes``, ``train``,
  ``export``) learns; ``data check`` / ``data convert`` / ``val`` and the evaluation block give
  the figures printed in the README; ``detect``, ``weights`` and the detection block run on the
  shared model.

What is substituted, because it cannot run offline (and nothing else):

* ``yolo11n.pt`` (a hub download) -> the shared COCO YOLOv8n (``../shared/weights/yolov8n_int8.onnx``);
* ``street.jpg``, ``a.jpg``, ``b.jpg``, ``photos/`` and ``more/*.png`` (the user's photos) ->
  scikit-image's sample photos written to those names;
* ``Detector("fasterrcnn_resnet50_fpn_v2")``'s COCO weights (a download) -> ``weights=None``;
* ``../shared`` -> wherever the shared data are (``DETECTKIT_SHARED``).

The webcam, RTSP, faces, classical, compare and Python fine-tuning examples need a camera, the
FaceNet download or minutes of Faster R-CNN; ``COVERED`` names the tests elsewhere that run them.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import re
import shlex
import tomllib
from pathlib import Path

import numpy as np
import pytest
from shared_data import SHARED, SHARED_ONNX, need_shared

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def readme_blocks(language: str) -> list[str]:
    """The README's fenced blocks of one language, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def readme_commands() -> list[list[str]]:
    """Every shell command of the README's bash blocks as an argv (continuations joined, comments
    dropped, ``a && b`` split, ``VAR=value`` prefixes and ``.venv/bin/`` dropped)."""
    commands = []
    for block in readme_blocks("bash"):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            words = shlex.split(line, comments=True)
            while words:
                cut = words.index("&&") if "&&" in words else len(words)
                argv = [w for w in words[:cut]]
                while argv and re.match(r"^[A-Z_]+=", argv[0]):
                    argv = argv[1:]
                if argv:
                    argv[0] = argv[0].removeprefix(".venv/bin/")
                    commands.append(argv)
                words = words[cut + 1:]
    return commands


def detectkit_commands() -> list[list[str]]:
    return [argv[1:] for argv in readme_commands() if argv[0] == "detectkit"]


def key(argv: list[str]) -> str:
    """A README command's name: the sub-command and, for groups, the action (``data shapes``)."""
    groups = {"data", "faces"}
    return " ".join(argv[:2] if argv[0] in groups else argv[:1])


# Every README command -> the test(s) that run it and check its claim ("here" = this module).
COVERED = {
    "demo": "tests/video/test_video_cli.py::test_demo_runs_the_clip_end_to_end",
    "detect": "here: test_detect_and_weights_commands",
    "weights": "here: test_detect_and_weights_commands",
    "data check": "here: test_datasets_section",
    "data convert": "here: test_datasets_section",
    "val": "here: test_datasets_section",
    "run": "tests/video/test_video_cli.py::test_run_writes_video_and_json_lines_and_prints_stats",
    "faces enroll": "tests/faces/test_faces_cli.py::test_enroll_verify_identify_manage",
    "faces verify": "tests/faces/test_faces_cli.py::test_enroll_verify_identify_manage",
    "faces identify": "tests/faces/test_faces_cli.py::test_enroll_verify_identify_manage",
    "faces list": "tests/faces/test_faces_cli.py::test_enroll_verify_identify_manage",
    "faces calibrate": "tests/faces/test_faces_cli.py::test_calibrate_command",
    "compare": "tests/classical/test_compare.py::test_cli_compare",
    "data shapes": "here: test_fine_tuning_example_learns",
    "train": "here: test_fine_tuning_example_learns",
    "export": ["here: test_fine_tuning_example_learns",  # --format onnx
               "tests/runtimes/test_runtime_auto.py::test_registry_cli_export_and_engine_error"],  # --format openvino
    "serve": "tests/serve/test_serve_cli.py::test_serve_command_as_the_readme_shows",
    "batch": "tests/batch/test_batch_ray.py::test_cli_batch_over_one_photo",
}


def test_readme_blocks_were_found() -> None:
    assert len(readme_blocks("bash")) >= 7 and len(readme_blocks("python")) >= 6
    assert ["detectkit", "data", "shapes", "shapes/"] in readme_commands()


def test_every_readme_command_has_a_test() -> None:
    assert sorted({key(argv) for argv in detectkit_commands()} - set(COVERED)) == []
    for name, places in COVERED.items():
        for where in [places] if isinstance(places, str) else places:
            if where.startswith("here: "):
                assert where.removeprefix("here: ") in globals(), name
            else:
                path, test = where.split("::")
                assert f"def {test}(" in (REPO / path).read_text(encoding="utf-8"), where


def test_every_detectkit_command_parses() -> None:
    from detectkit.cli import build_parser

    parser = build_parser()
    for argv in detectkit_commands():
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                args = parser.parse_args(argv)
            except SystemExit:
                pytest.fail(f"README: detectkit {shlex.join(argv)}: {err.getvalue().strip()}")
        assert callable(args.func), argv


def test_setup_commands_name_real_extras() -> None:
    """The setup lines cannot run offline (pip); what they name must exist."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    named = [extra for argv in readme_commands() if argv[:2] == ["pip", "install"]
             for w in argv if w.startswith(".[") for extra in re.fullmatch(r"\.\[([\w,-]+)\]", w)[1].split(",")]
    assert named and set(named) <= set(extras), named
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["detectkit"].startswith("detectkit.cli")


def test_every_python_block_compiles_and_imports_real_names() -> None:
    import importlib

    for block in readme_blocks("python"):
        tree = ast.parse(block)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("detectkit"):
                module = importlib.import_module(node.module)
                missing = [a.name for a in node.names if not hasattr(module, a.name)]
                assert not missing, f"README: from {node.module} import {missing}: no such name"


# ---------------------------------------------------------------- the commands that run here


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    from detectkit.cli import main

    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr().out
    assert code in (0, None), (argv, out)
    return out


def offline(argv: list[str]) -> list[str]:
    """The substitutions of this module's docstring, applied to one command."""
    return [str(SHARED_ONNX) if w == "yolo11n.pt" else w.replace("../shared", str(SHARED)) for w in argv]


def command(name: str) -> list[str]:
    [argv] = [a for a in detectkit_commands() if key(a) == name][:1] or [[]]
    assert argv, f"the README has no 'detectkit {name}' command any more"
    return offline(argv)


def write_photos(folder: Path) -> None:
    """scikit-image's photos under the README's file names: street.jpg (a person), a.jpg, b.jpg, photos/, more/."""
    import cv2
    from skimage import data

    astronaut, coffee, cat = (cv2.cvtColor(getattr(data, n)(), cv2.COLOR_RGB2BGR) for n in ("astronaut", "coffee", "chelsea"))
    (folder / "photos").mkdir()
    (folder / "more").mkdir()
    for path, image in [("street.jpg", astronaut), ("a.jpg", astronaut), ("b.jpg", cat),
                        ("photos/astronaut.jpg", astronaut), ("photos/cat.jpg", cat), ("more/coffee.png", coffee)]:
        cv2.imwrite(str(folder / path), image)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # 20 epochs of yolov8n from scratch on the CPU: minutes on a quiet 2-core machine
def test_fine_tuning_example_learns(tmp_path, monkeypatch, capsys) -> None:
    """``data shapes`` -> ``train`` (yolov8n from its YAML, 20 epochs at 128 px on the CPU, the library's
    defaults) -> ``export``, exactly as the README shows them: best.pt finds the shapes, and the ONNX
    file gives PyTorch's boxes.

    With ultralytics' own settings (nbs 64: one optimizer step an epoch, 3-epoch warm-up, mosaic,
    +-50% scale, AdamW at 0.0014) best.pt scored mAP@0.5 0.004 (``evaluate``); with detectkit's
    small-data defaults (batch 4 and nbs 4: 16 steps an epoch, 1-epoch warm-up, no mosaic, +-20%
    scale, AdamW at 0.003 ending at 0.0003) 0.50-0.55 over seeds 0, 1 and 3 on one thread (AMD EPYC,
    2 cores; see docs/testing.md). The assertion keeps the issue's bar, 0.3."""
    from detectkit import Detector, evaluate, load_dataset

    monkeypatch.chdir(tmp_path)
    out = run_cli(command("data shapes"), capsys)
    train, val = load_dataset("shapes/data.yaml", "train"), load_dataset("shapes/data.yaml", "val")
    assert (len(train), len(val)) == (64, 16) and train.names == ["circle", "square", "triangle"], out  # "64 + 16"

    run_cli(command("train"), capsys)
    run_dir = tmp_path / "runs" / "train" / "exp"
    best = run_dir / "weights" / "best.pt"
    assert best.is_file() and (run_dir / "metrics.csv").is_file()
    report = evaluate(Detector(best, device="cpu"), "shapes/data.yaml", split="val")
    assert report.map50 >= 0.3, str(report)  # a real mAP: 0.004 with ultralytics' nbs=64 and 3-epoch warm-up

    export_argv = command("export")
    assert export_argv[export_argv.index("--model") + 1] == "runs/train/exp/weights/best.pt"
    run_cli(export_argv, capsys)
    onnx = run_dir / "weights" / "best.onnx"
    assert onnx.is_file()
    images = [str(s.image_path) for s in val][:6]
    torch_model, onnx_model = Detector(best, device="cpu", imgsz=128), Detector(onnx, device="cpu")
    assert onnx_model.names == torch_model.names == {0: "circle", 1: "square", 2: "triangle"}
    for a, b in zip(torch_model(images), onnx_model(images)):
        assert len(a) == len(b)
        order_a, order_b = np.argsort(-a.confidence), np.argsort(-b.confidence)
        assert np.allclose(a.xyxy[order_a], b.xyxy[order_b], atol=1.0)


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.timeout(1800)  # coco128 scored twice at 640 px (the command and the Python block)
def test_datasets_section(tmp_path, monkeypatch, capsys) -> None:
    """``data check`` on coco128, ``data convert`` of Penn-Fudan to YOLO, ``val`` and the Python block:
    the figures the README prints (``0.6097 0.4532``)."""
    from detectkit import load_dataset

    need_shared("data/detection/coco128/coco128.yaml")
    pennfudan = need_shared("data/detection/pennfudan")
    need_shared("weights/yolov8n_int8.onnx")
    monkeypatch.chdir(tmp_path)

    out = run_cli(command("data check"), capsys)
    # both splits, 128 images each (929 boxes, 2 background), val being train: one warning, no error
    assert "dataset check: 0 errors, 1 warning (256 images checked, 256 usable with 1858 boxes, 4 background)" in out, out
    assert "train_val_overlap" in out, out

    run_cli(command("data convert"), capsys)
    source = load_dataset(pennfudan)
    train, val = load_dataset("pennfudan_yolo/data.yaml", "train"), load_dataset("pennfudan_yolo/data.yaml", "val")
    assert len(train) + len(val) == len(source) and len(val) == round(0.2 * len(source))  # --val-fraction 0.2
    assert train.num_boxes + val.num_boxes == source.num_boxes and train.names == ["person"]

    out = run_cli(command("val"), capsys)
    all_row = next(line.split() for line in out.splitlines() if line.startswith("all "))
    assert all_row[1] == "128" and (float(all_row[-2]), float(all_row[-1])) == (0.610, 0.453), out

    [block] = [b for b in readme_blocks("python") if "evaluate(" in b and "pennfudan_yolo" in b]
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(block.replace("../shared", str(SHARED)), "README.md", "exec"), namespace)
    claimed = re.search(r"# ([0-9.]+) ([0-9.]+) \(ultralytics", block)
    report = namespace["report"]
    assert (round(report.map50, 4), round(report.map, 4)) == (float(claimed[1]), float(claimed[2])), printed.getvalue()
    assert len(namespace["train"]) == len(train)


@pytest.mark.shared
@pytest.mark.slow
def test_detect_and_weights_commands(tmp_path, monkeypatch, capsys) -> None:
    """``detectkit detect`` with --conf/--classes/--save-dir/--json on photos/ and more/*.png, and
    ``detectkit weights``; then the Python detection block, on the shared model."""
    need_shared("weights/yolov8n_int8.onnx")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DETECTKIT_WEIGHTS", str(SHARED / "weights"))
    write_photos(tmp_path)

    run_cli(command("detect"), capsys)
    rows = {Path(r["source"]).name: r for r in map(json.loads, (tmp_path / "found.jsonl").read_text().splitlines())}
    assert sorted(rows) == ["astronaut.jpg", "cat.jpg", "coffee.png"]  # photos/ and more/*.png
    labels = {name: [d["label"] for d in row["detections"]] for name, row in rows.items()}
    assert labels == {"astronaut.jpg": ["person"], "cat.jpg": [], "coffee.png": []}, labels  # person,car only
    assert all(d["confidence"] >= 0.4 for row in rows.values() for d in row["detections"])
    assert sorted(p.name for p in (tmp_path / "annotated").iterdir()) == sorted(rows)

    out = run_cli(command("weights"), capsys)
    assert str(SHARED / "weights") in out and "searched, in order:" in out, out

    [block] = [b for b in readme_blocks("python") if "Detector(\"yolo11n.pt\"" in b and ".stream(" in b]
    source = block.replace('"yolo11n.pt"', repr(str(SHARED_ONNX)))
    source = source.replace('Detector("fasterrcnn_resnet50_fpn_v2", imgsz=800)',
                            'Detector("fasterrcnn_resnet50_fpn_v2", imgsz=800, weights=None)')
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        exec(compile(source, "README.md", "exec"), namespace)
    detections = namespace["found"]
    assert "person" in detections.labels and set(detections.labels) <= {"person", "car"}
    assert (detections.confidence >= 0.4).all()
    a, b = namespace["batch"]  # a.jpg: the astronaut, b.jpg: the cat (not a person or a car)
    assert a.labels == ["person"] and (a.confidence >= 0.6).all() and len(b) == 0
    people = namespace["people"]
    assert len(people) >= 1 and set(people.labels) == {"person"} and (people.confidence >= 0.5).all()
    assert json.loads(detections.to_json()) and printed.getvalue().count("person") >= len(people)
