"""evaluate(): COCO mAP by pycocotools on cases with a known answer, both detector families, and against ultralytics val."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from shared_data import need_shared

from detectkit import Detections, Detector
from detectkit.errors import DatasetError
from detectkit.training.datasets import DetectionDataset, Sample, load_dataset
from detectkit.training.evaluate import evaluate, evaluate_predictions, match_classes
from detectkit.training.synthetic import make_shapes_dataset

NAMES = ["cat", "dog"]


def dataset(n: int = 6) -> DetectionDataset:
    """n images, each with one 50x40 'cat' and one 30x30 'dog' box (no files needed for scoring)."""
    samples = []
    for i in range(n):
        x = 10 + 5 * i
        samples.append(Sample(Path(f"im{i}.jpg"), [[x, 20, x + 50, 60], [100, 100, 130, 130]], [0, 1], 200, 160))
    return DetectionDataset(NAMES, samples)


def detections(boxes, scores, classes, names=None) -> Detections:
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32), np.asarray(classes),
        names or dict(enumerate(NAMES)),
    )


def perfect(ds: DetectionDataset, score: float = 0.9) -> list[Detections]:
    return [detections(s.xyxy, np.full(len(s), score), s.class_id) for s in ds]


def test_perfect_predictions_score_one():
    report = evaluate_predictions(dataset(), perfect(dataset()))
    assert report.map50 == pytest.approx(1.0) and report.map == pytest.approx(1.0)
    assert report.precision == pytest.approx(1.0) and report.recall == pytest.approx(1.0)
    assert [c.ap for c in report.per_class] == pytest.approx([1.0, 1.0])
    assert (report.images, report.instances) == (6, 12)


def test_shifted_boxes_lose_exactly_the_strict_iou_thresholds():
    ds = dataset()
    shifted = []
    for s in ds:  # move every box right by a fifth of its width: IoU = 0.8 / 1.2 = 2/3
        boxes = s.xyxy.copy()
        dx = (boxes[:, 2] - boxes[:, 0]) / 5
        boxes[:, [0, 2]] += dx[:, None]
        shifted.append(detections(boxes, [0.9, 0.9], s.class_id))
    report = evaluate_predictions(ds, shifted)
    # matched at IoU 0.50, 0.55, 0.60, 0.65; missed at 0.70..0.95: 4 of 10 thresholds
    assert report.map50 == pytest.approx(1.0) and report.map == pytest.approx(0.4)


def test_half_the_objects_found_gives_coco_interpolated_ap():
    ds = dataset(4)
    found = [detections(s.xyxy[:1], [0.9], s.class_id[:1]) for s in ds]  # every cat, no dog
    report = evaluate_predictions(ds, found)
    cat, dog = report.per_class
    assert (cat.ap50, dog.ap50) == (pytest.approx(1.0), pytest.approx(0.0))
    assert report.map50 == pytest.approx(0.5) and dog.recall == 0.0
    two = [detections(s.xyxy, [0.9, 0.8], s.class_id) for s in ds[:2]] + [detections(np.zeros((0, 4)), [], []) for _ in range(2)]
    # each class found in 2 of 4 images at precision 1: COCO's 101 recall points 0..0.50 -> 51/101
    assert evaluate_predictions(ds, two).map50 == pytest.approx(51 / 101)


def test_confident_false_positives_lower_ap_but_weak_ones_do_not():
    ds = dataset(1)
    truth = ds[0]
    wrong = [[150, 10, 190, 50]]
    strong = detections(np.vstack([wrong, truth.xyxy]), [0.95, 0.9, 0.9], [0, 0, 1])
    weak = detections(np.vstack([wrong, truth.xyxy]), [0.1, 0.9, 0.9], [0, 0, 1])
    # cat: FP ranked before the only TP -> precision 1/2 at recall 1 -> AP 0.5; dog: 1.0
    assert evaluate_predictions(ds, [strong]).map50 == pytest.approx(0.75)
    assert evaluate_predictions(ds, [weak]).map50 == pytest.approx(1.0)


def test_detections_on_crowd_regions_are_not_false_positives():
    sample = Sample(Path("a.jpg"), [[10, 10, 60, 60]], [0], 200, 160, ignore_xyxy=[[100, 20, 190, 150]], ignore_class_id=[0])
    ds = DetectionDataset(["cat"], [sample])
    in_crowd = detections([[110, 30, 150, 80], [10, 10, 60, 60]], [0.99, 0.5], [0, 0], {0: "cat"})
    assert evaluate_predictions(ds, [in_crowd]).map50 == pytest.approx(1.0)
    plain = DetectionDataset(["cat"], [Sample(Path("a.jpg"), [[10, 10, 60, 60]], [0], 200, 160)])
    assert evaluate_predictions(plain, [in_crowd]).map50 == pytest.approx(0.5)


def test_a_class_without_instances_is_left_out_of_the_mean_not_counted_as_zero():
    ds = DetectionDataset(NAMES, [Sample(Path(f"im{i}.jpg"), [[10, 10, 60, 50]], [0], 200, 160) for i in range(3)])
    preds = [detections([[10, 10, 60, 50], [100, 100, 140, 140]], [0.9, 0.95], [0, 1]) for _ in ds]  # every dog is wrong
    report = evaluate_predictions(ds, preds)
    cat, dog = report.per_class
    assert report.map50 == pytest.approx(1.0) and report.map == pytest.approx(1.0)  # pycocotools' -1 for dog is skipped
    assert cat.ap == pytest.approx(1.0) and np.isnan(dog.ap) and np.isnan(dog.ap50) and dog.instances == 0
    assert report.precision == pytest.approx(1.0) and report.instances == 3
    assert "\ndog " not in str(report) and json.loads(json.dumps(report.to_dict()))["per_class"][1]["ap"] is None
    assert (report.pr_precision[1] == -1).all() and (report.pr_precision[0] == 1).all()


def test_at_most_100_detections_per_image_and_class_are_scored():
    ds = DetectionDataset(NAMES, [Sample(Path("a.jpg"), [[10, 10, 60, 50]], [0], 200, 160)])
    wrong = [[100 + i % 10, 100, 150 + i % 10, 140] for i in range(100)]
    truth_last = detections(wrong + [[10, 10, 60, 50]], [0.9] * 100 + [0.5], [0] * 101)
    assert evaluate_predictions(ds, [truth_last]).map50 == 0.0  # the true box is the 101st cat: not scored
    dogs_first = detections(wrong + [[10, 10, 60, 50]], [0.9] * 100 + [0.5], [1] * 100 + [0])
    assert evaluate_predictions(ds, [dogs_first]).map50 == pytest.approx(1.0)  # the limit is per class


def test_ground_truth_goes_to_pycocotools_as_coco_xywh_with_ids_from_one():
    from detectkit.training.evaluate import _coco_gt

    sample = Sample(Path("a.jpg"), [[10.5, 20, 40, 60]], [1], 64, 80, ignore_xyxy=[[0, 0, 8, 8]], ignore_class_id=[0])
    gt = _coco_gt(DetectionDataset(NAMES, [sample]))
    assert gt.getImgIds() == [1] and gt.loadImgs(1)[0]["width"] == 64 and gt.loadImgs(1)[0]["height"] == 80
    assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == NAMES and gt.getCatIds() == [1, 2]
    box, crowd = gt.loadAnns(gt.getAnnIds(imgIds=[1]))
    assert box["bbox"] == [10.5, 20.0, 29.5, 40.0] and box["category_id"] == 2 and box["iscrowd"] == 0
    assert crowd["bbox"] == [0.0, 0.0, 8.0, 8.0] and crowd["category_id"] == 1 and crowd["iscrowd"] == 1


def test_classes_are_matched_by_name_and_unknown_ones_reported():
    ds = dataset(3)
    model_names = {0: "Dog", 1: "bird", 2: "CAT"}  # other order, other case, a class the data lacks
    preds = [detections(s.xyxy, [0.9, 0.9], [2, 0], model_names) for s in ds]
    report = evaluate_predictions(ds, preds)
    assert report.map50 == pytest.approx(1.0) and report.unmatched_classes == []
    only_cats = evaluate_predictions(ds, [detections(s.xyxy[:1], [0.9], [0], {0: "cat"}) for s in ds])
    assert only_cats.unmatched_classes == ["dog"] and [c.name for c in only_cats.per_class] == ["cat"]
    assert only_cats.map50 == pytest.approx(1.0)
    with pytest.raises(DatasetError, match="nothing to evaluate"):
        evaluate_predictions(ds, [detections(s.xyxy, [0.9, 0.9], [0, 1], {0: "car", 1: "bus", 2: "x"}) for s in ds])
    with pytest.warns(UserWarning, match="by position"):
        assert match_classes({0: "a", 1: "b"}, ["x", "y"]) == {0: 0, 1: 1}


class ReplayBackend:
    """A backend that 'detects' the labelled boxes (found by the image's mean colour), shifted by `dx` pixels."""

    family = "custom"
    device = "cpu"

    def __init__(self, ds: DetectionDataset, dx: float = 0.0):
        self.names = dict(enumerate(ds.names))
        self.by_key = {self.key(s.load_image()): s for s in ds}
        self.dx = dx

    @staticmethod
    def key(image: np.ndarray) -> bytes:
        return cv2.resize(image, (8, 8), interpolation=cv2.INTER_AREA).tobytes()

    def predict(self, images, options):
        out = []
        for image in images:
            sample = self.by_key[self.key(image)]
            boxes = sample.xyxy + np.array([self.dx, 0, self.dx, 0], np.float32)
            out.append(detections(boxes, np.full(len(sample), 0.8), sample.class_id, self.names))
        return out


def test_evaluate_runs_a_detector_over_a_dataset_on_disk_and_writes_plots(tmp_path):
    spec = make_shapes_dataset(tmp_path / "shapes", n_train=2, n_val=6, imgsz=96, seed=2)
    val = load_dataset(spec, "val")
    exact = evaluate(Detector(ReplayBackend(val)), spec, plots=tmp_path / "plots")
    assert exact.map50 == pytest.approx(1.0) and exact.map == pytest.approx(1.0)
    assert exact.seconds_per_image > 0 and exact.settings["conf"] == 0.001
    for name in ("pr_curve", "per_class_ap"):
        image = cv2.imread(str(exact.plots[name]))
        assert image is not None and image.shape[0] > 200 and image.std() > 5
    off = evaluate(Detector(ReplayBackend(val, dx=200)), spec)  # every box moved off its object
    assert off.map50 == 0.0 and "all" in str(off) and json.dumps(off.to_dict())


def test_both_families_evaluate_on_coco128(yolo_onnx_detector):
    root = need_shared("data/detection/coco128")
    ds = load_dataset(root / "coco128.yaml", "val")[:4]
    yolo = evaluate(yolo_onnx_detector, ds)
    assert 0.3 < yolo.map50 <= 1.0 and yolo.map < yolo.map50 and yolo.instances == ds.num_boxes
    untrained = Detector("fasterrcnn_mobilenet_v3_large_320_fpn", weights=None, device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tv = evaluate(untrained, ds, imgsz=320)
    assert tv.map50 < 0.05 and tv.images == 4 and tv.unmatched_classes == []


def test_val_command_prints_the_table_and_writes_json(coco_onnx, tmp_path):
    root = need_shared("data/detection/coco128")
    listing = tmp_path / "four.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted((root / "images" / "train2017").glob("*.jpg"))[:4]))
    names = yaml.safe_load((root / "coco128.yaml").read_text())["names"]
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "four.txt", "val": "four.txt", "names": names}))
    out = subprocess.run(
        [sys.executable, "-m", "detectkit", "val", "--model", str(coco_onnx), "--data", str(data), "--device", "cpu",
         "--json", str(tmp_path / "m.json"), "--plots", str(tmp_path / "plots")],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    present = [name for name, n in load_dataset(data, "val").class_counts().items() if n]
    assert "mAP50-95" in out.stdout and all(f"\n{name} " in out.stdout for name in present)
    metrics = json.loads((tmp_path / "m.json").read_text())
    # the command prints what the library computes for the same model and data (not a range)
    library = evaluate(Detector(coco_onnx, device="cpu"), data, split="val")
    assert metrics["map50"] == pytest.approx(library.map50, abs=1e-6) and metrics["map"] == pytest.approx(library.map, abs=1e-6)
    assert library.map50 > library.map > 0.1 and (tmp_path / "plots" / "pr_curve.png").is_file()
    missing = subprocess.run([sys.executable, "-m", "detectkit", "val", "--model", str(coco_onnx), "--data", str(data),
                              "--split", "test"], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1 and "has no 'test' split" in missing.stderr


@pytest.mark.slow
def test_agrees_with_ultralytics_val_on_coco128(coco_onnx, tmp_path):
    """Same model, same images (the first 32 of coco128: 209 boxes): detectkit's COCOeval mAP against ultralytics' val.

    ultralytics' val keeps several classes per box (multi-label NMS) where its predict, and so
    detectkit's Detector, keeps one; with val's NMS switched to single-label the two agree to
    within the metric's own difference (COCO's step interpolation vs ultralytics' trapezoid).
    Measured |delta| on these 32 images: 0.003 / 0.003 (mAP@0.5 / mAP@0.5:0.95) against single-label
    val, 0.020 / 0.020 against plain val; on all 128 (benchmarks/eval_vs_ultralytics.py): 0.002 / 0.003
    and 0.002 / 0.0004. 32 images keep the bounds below with margin, at a quarter of the time.
    """
    root = need_shared("data/detection/coco128")
    from detectkit._ultralytics_env import import_ultralytics, keep_torch_threads

    ultralytics = import_ultralytics()
    from ultralytics.utils import nms

    ds = load_dataset(root / "coco128.yaml", "val")[:32]
    (tmp_path / "list.txt").write_text("".join(f"{s.image_path}\n" for s in ds))
    data = tmp_path / "data.yaml"
    data.write_text(yaml.safe_dump({"path": str(tmp_path), "train": "list.txt", "val": "list.txt", "names": dict(enumerate(ds.names))}))

    def ultralytics_val(multi_label: bool):
        original = nms.non_max_suppression
        if not multi_label:
            nms.non_max_suppression = lambda *a, **k: original(*a, **{**k, "multi_label": False})
        try:
            with keep_torch_threads():  # val's select_device would leave torch on cpu_count - 1 threads
                return ultralytics.YOLO(str(coco_onnx), task="detect").val(
                    data=str(data), imgsz=640, batch=1, conf=0.001, iou=0.6, device="cpu", plots=False,
                    project=str(tmp_path), name="val", verbose=False,
                ).box
        finally:
            nms.non_max_suppression = original

    theirs, theirs_single = ultralytics_val(True), ultralytics_val(False)
    ours = evaluate(Detector(coco_onnx, device="cpu"), ds, conf=0.001, iou=0.6)
    print(f"\nmAP@0.5 / mAP@0.5:0.95 on {len(ds)} coco128 images: ultralytics val {theirs.map50:.4f} / {theirs.map:.4f}, "
          f"ultralytics val single-label {theirs_single.map50:.4f} / {theirs_single.map:.4f}, "
          f"detectkit {ours.map50:.4f} / {ours.map:.4f}")
    assert abs(ours.map50 - theirs_single.map50) < 0.01 and abs(ours.map - theirs_single.map) < 0.01
    assert abs(ours.precision - theirs_single.mp) < 0.02 and abs(ours.recall - theirs_single.mr) < 0.02
    assert abs(ours.map50 - theirs.map50) < 0.05 and abs(ours.map - theirs.map) < 0.05
