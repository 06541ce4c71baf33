"""The exported-model metadata schema: written and read by the same code; older files and bad values."""

from __future__ import annotations

import pytest

from detectkit.detection.model_metadata import METADATA_KEY, ExportMetadata
from detectkit.errors import WeightsFormatError


def test_round_trip_and_the_strings_written():
    meta = ExportMetadata(builder="ssdlite320_mobilenet_v3_large", names={0: "cat", 3: "dog"}, imgsz=320, min_size=320,
                          max_size=320, fixed_size=(300, 400), label_offset=1, score_thresh=0.001, nms_iou=0.5,
                          max_det=300, extra={"source": "best.pt"})
    written = meta.to_dict()
    assert written[METADATA_KEY] == "1" and written["family"] == "torchvision"
    assert written["fixed_size"] == "400,300", "written width,height; held as (height, width)"
    assert written["names"] == '{"0": "cat", "3": "dog"}' and written["min_size"] == "320"
    assert written["score_thresh"] == "0.001" and written["source"] == "best.pt"
    assert all(isinstance(v, str) for v in written.values())
    assert ExportMetadata.from_dict(written) == meta
    assert ExportMetadata.from_dict(meta.with_quantization("int8-dynamic").to_dict()).quantization == "int8-dynamic"


def test_an_older_file_with_only_the_required_keys_gets_the_defaults():
    meta = ExportMetadata.from_dict({METADATA_KEY: "1", "family": "torchvision", "names": '{"0": "a"}', "imgsz": "256"})
    assert (meta.min_size, meta.max_size, meta.fixed_size, meta.label_offset) == (256.0, 256.0, None, 0)
    assert (meta.score_thresh, meta.nms_iou, meta.max_det, meta.quantization) == (0.0, 1.0, 100, "none")


@pytest.mark.parametrize("broken, message", [
    ({"family": "torchvision"}, "not an ONNX file exported by detectkit"),
    ({METADATA_KEY: "1", "imgsz": "256"}, "incomplete or malformed"),
    ({METADATA_KEY: "1", "names": "{}", "imgsz": "big"}, "incomplete or malformed"),
    ({METADATA_KEY: "1", "names": "not json", "imgsz": "256"}, "incomplete or malformed"),
])
def test_bad_metadata_names_the_file(broken, message):
    with pytest.raises(WeightsFormatError, match=message) as info:
        ExportMetadata.from_dict(broken, "model.onnx")
    assert str(info.value).startswith("model.onnx: ")
