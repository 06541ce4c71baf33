"""Detections: construction checks, selection, filtering, JSON and converters."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from detectkit import Detections


def make(n: int = 3) -> Detections:
    xyxy = np.array([[0, 0, 10, 10], [5, 5, 25, 45], [100, 50, 180, 90]], dtype=np.float32)[:n]
    return Detections(
        xyxy=xyxy,
        confidence=np.array([0.9, 0.4, 0.7])[:n],
        class_id=np.array([0, 2, 0])[:n],
        names={0: "person", 2: "car"},
        image_shape=(200, 300),
    )


def test_fields_are_typed_and_shaped():
    d = make()
    assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (3, 4)
    assert d.confidence.dtype == np.float32 and d.class_id.dtype == np.int64
    assert d.labels == ["person", "car", "person"]
    assert d.area.tolist() == [100.0, 800.0, 3200.0]


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="confidence has 2"):
        Detections(np.zeros((3, 4)), [0.1, 0.2], [0, 0, 0])
    with pytest.raises(ValueError, match="landmarks"):
        make().with_extras(landmarks=np.zeros((3, 4, 2)))


def test_selection_by_int_slice_indices_and_mask():
    d = make().with_extras(tracker_id=[7, 8, 9], identity=np.array(["ann", None, "bob"], dtype=object))
    assert d[1].tracker_id.tolist() == [8] and d[1].identity.tolist() == [None]
    assert d[-1].labels == ["person"] and d[-1].tracker_id.tolist() == [9]
    assert d[1:].confidence.tolist() == pytest.approx([0.4, 0.7])
    assert d[[2, 0]].tracker_id.tolist() == [9, 7]
    mask = d.confidence > 0.5
    assert d[mask].tracker_id.tolist() == [7, 9]
    with pytest.raises(IndexError):
        d[3]
    with pytest.raises(IndexError):
        d[np.array([True, False])]
    assert [len(x) for x in d] == [1, 1, 1]


def test_filter_by_class_name_id_confidence_and_area():
    d = make()
    assert d.filter(classes=["car"]).labels == ["car"]
    assert d.filter(classes=[0]).confidence.tolist() == pytest.approx([0.9, 0.7])
    assert d.filter(classes=["PERSON"], min_confidence=0.8).confidence.tolist() == pytest.approx([0.9])
    assert len(d.filter(min_area=1000)) == 1
    with pytest.raises(ValueError, match="unknown class 'dog'"):
        d.filter(classes=["dog"])


def test_json_round_trip_keeps_boxes_and_extras():
    d = make().with_extras(
        tracker_id=[1, 2, 3],
        landmarks=np.arange(30, dtype=np.float32).reshape(3, 5, 2),
        identity=np.array(["ann", None, "bob"], dtype=object),
        similarity=[0.8, np.nan, 0.6],
        embedding=np.eye(3, 4, dtype=np.float32),
    )
    line = d.to_json(source="a.jpg")
    data = json.loads(line)
    assert data["source"] == "a.jpg" and data["image_shape"] == [200, 300]
    assert data["detections"][1]["identity"] is None and data["detections"][1]["similarity"] is None
    back = Detections.from_dict(data, names=d.names)
    np.testing.assert_allclose(back.xyxy, d.xyxy)
    np.testing.assert_allclose(back.confidence, d.confidence, atol=1e-5)
    assert back.class_id.tolist() == d.class_id.tolist()
    assert back.identity.tolist() == ["ann", None, "bob"]
    np.testing.assert_allclose(back.landmarks, d.landmarks)
    np.testing.assert_allclose(back.embedding, d.embedding)
    assert np.isnan(back.similarity[1]) and back.tracker_id.tolist() == [1, 2, 3]


def test_empty_and_merge():
    empty = Detections.empty({0: "person"}, image_shape=(10, 10))
    assert len(empty) == 0 and empty.to_dict()["detections"] == []
    faces = Detections(np.array([[1, 1, 5, 5]]), [0.99], [0], {0: "person"}).with_extras(identity=np.array(["ann"], dtype=object))
    merged = Detections.merge([make(), faces])
    assert len(merged) == 4
    assert merged.identity.tolist() == [None, None, None, "ann"]
    with pytest.raises(ValueError, match="class id 0"):
        Detections.merge([make(), Detections.empty({0: "face"})])


def test_from_torchvision_output_drops_background_names():
    out = {
        "boxes": torch.tensor([[1.0, 2.0, 30.0, 40.0]]),
        "scores": torch.tensor([0.75]),
        "labels": torch.tensor([3]),
    }
    d = Detections.from_torchvision(out, ["__background__", "person", "N/A", "car"], image_shape=(50, 60))
    assert d.labels == ["car"] and d.names == {1: "person", 3: "car"}
    np.testing.assert_allclose(d.xyxy, [[1, 2, 30, 40]])


def test_from_ultralytics_results():
    from ultralytics.engine.results import Results

    image = np.zeros((60, 80, 3), np.uint8)
    boxes = torch.tensor([[10.0, 5.0, 40.0, 50.0, 0.8, 1.0], [0.0, 0.0, 8.0, 8.0, 0.3, 0.0]])
    result = Results(image, path="x.jpg", names={0: "person", 1: "bicycle"}, boxes=boxes)
    d = Detections.from_ultralytics(result)
    assert d.labels == ["bicycle", "person"] and d.image_shape == (60, 80)
    np.testing.assert_allclose(d.confidence, [0.8, 0.3], atol=1e-6)
    tracked = Results(image, path="x.jpg", names={0: "person"}, boxes=torch.tensor([[1.0, 1.0, 9.0, 9.0, 42.0, 0.5, 0.0]]))
    assert Detections.from_ultralytics(tracked).tracker_id.tolist() == [42]
    empty = Results(image, path="x.jpg", names={0: "person"}, boxes=torch.zeros((0, 6)))
    assert len(Detections.from_ultralytics(empty)) == 0


def test_supervision_round_trip():
    pytest.importorskip("supervision")
    d = make().with_extras(tracker_id=[4, 5, 6])
    sv_d = d.to_supervision()
    assert len(sv_d) == 3 and list(sv_d.data["class_name"]) == d.labels
    back = Detections.from_supervision(sv_d)
    np.testing.assert_allclose(back.xyxy, d.xyxy)
    assert back.labels == d.labels and back.tracker_id.tolist() == [4, 5, 6]
