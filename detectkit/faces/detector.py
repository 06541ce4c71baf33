"""`FaceDetector`: MTCNN (facenet-pytorch's P-, R- and O-nets) as batched ``Detections``.

facenet-pytorch's own ``MTCNN.detect`` takes a batch only when every image has the
same size, and ``MTCNN.forward``/``select_boxes`` crash when some images of a batch
have no face (facenet-pytorch issue 224). This module keeps the library's networks,
weights and helper functions (``generateBoundingBox``, ``bbreg``, ``rerec``, ``pad``,
``batched_nms_numpy``) and runs the same three-stage cascade itself, so that:

* images of different sizes are grouped by size and each group runs batched;
* an image without a face simply gives an empty ``Detections`` (never a crash);
* results come back as one ``Detections`` per image (class ``"face"``, confidence =
  the O-net probability, ``landmarks`` = eyes, nose, mouth corners as ``(x, y)``);
* the nets run in channels-last memory layout, which makes the R-net (3x) and P-net
  faster on CPUs; the arithmetic is the library's, so boxes match ``MTCNN.detect``.

Example:
    >>> import numpy as np, skimage.data
    >>> from detectkit.faces import FaceDetector
    >>> detector = FaceDetector(device="cpu")
    >>> astronaut = skimage.data.astronaut()[:, :, ::-1]  # RGB -> BGR
    >>> faces, empty = detector.detect([astronaut, np.zeros((64, 96, 3), np.uint8)])
    >>> len(faces), len(empty), faces.labels
    (1, 0, ['face'])
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any, Literal, Sequence

import numpy as np

from ..detections import Detections
from ..devices import select_device
from ..errors import ModelError
from ..images import ImageInput, load_image
from .face_detectors import FACE_DETECTORS

__all__ = ["FaceDetector", "FACE_NAMES", "Keep", "keep_order", "make_mtcnn"]

FACE_NAMES = {0: "face"}
"""The class table of face detections."""

Keep = Literal["all", "largest", "most_confident"]


def keep_order(xyxy: np.ndarray, confidence: np.ndarray, keep: Keep) -> np.ndarray:
    """Indices of the faces to return, highest confidence first: all, or the one ``keep`` names.

    Example:
        >>> boxes = np.array([[0, 0, 10, 10], [0, 0, 30, 30]], np.float32)
        >>> [keep_order(boxes, np.array([0.9, 0.8]), k).tolist() for k in ("all", "largest", "most_confident")]
        [[0, 1], [1], [0]]
    """
    order = np.argsort(-np.asarray(confidence), kind="stable")
    if keep == "largest":
        area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
        order = order[[int(np.argmax(area[order]))]]
    elif keep == "most_confident":
        order = order[:1]
    return order


class FaceDetector:
    """MTCNN face detector over lists of BGR images.

    Args:
        min_face_size: smallest face searched for, in pixels (MTCNN's ``minsize``).
        thresholds: P-, R- and O-net probability thresholds; the last one is the
            minimum confidence of a returned face.
        factor: scale step of the image pyramid.
        keep: ``"all"`` faces (highest confidence first), only the ``"largest"``, or
            only the ``"most_confident"`` one per image.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ...
        batch_size: most images of one size that one P-net call takes (default:
            16 on CUDA, 8 elsewhere; large frames use less memory with fewer).

    Thread safety: calls are serialised by a lock.

    Example:
        >>> detector = FaceDetector(min_face_size=40, keep="largest", device="cpu")
        >>> detector.thresholds
        (0.6, 0.7, 0.7)
    """

    def __init__(
        self,
        *,
        min_face_size: int = 20,
        thresholds: Sequence[float] = (0.6, 0.7, 0.7),
        factor: float = 0.709,
        keep: Keep = "all",
        device: Any = "auto",
        batch_size: int | None = None,
    ) -> None:
        import torch
        from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

        if int(min_face_size) < 12:
            raise ModelError(f"min_face_size must be at least 12 pixels (MTCNN's cell), got {min_face_size}")
        thresholds = tuple(float(t) for t in thresholds)
        if len(thresholds) != 3 or not all(0.0 <= t <= 1.0 for t in thresholds):
            raise ModelError(f"thresholds must be three probabilities (P-, R-, O-net), got {thresholds}")
        if not 0.1 <= float(factor) < 1.0:
            raise ModelError(f"factor must be in [0.1, 1), got {factor}")
        if keep not in ("all", "largest", "most_confident"):
            raise ModelError(f"keep must be 'all', 'largest' or 'most_confident', not {keep!r}")
        self.min_face_size = int(min_face_size)
        self.thresholds = thresholds
        self.factor = float(factor)
        self.keep: Keep = keep
        self.device = select_device(device)
        self.batch_size = int(batch_size or (16 if self.device.type == "cuda" else 8))
        if self.batch_size < 1:
            raise ModelError(f"batch_size must be at least 1, got {batch_size}")
        # weights ship inside the facenet-pytorch wheel; each detector has its own modules
        nets = [net.eval().to(self.device, memory_format=torch.channels_last) for net in (PNet(), RNet(), ONet())]
        self.pnet, self.rnet, self.onet = nets
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public
    @property
    def names(self) -> dict[int, str]:
        return dict(FACE_NAMES)

    def __call__(self, images: ImageInput | Sequence[ImageInput]) -> Detections | list[Detections]:
        """Detect faces in one image (returns ``Detections``) or a list (returns a list).

        Accepts anything :func:`detectkit.load_image` reads (paths, bytes, PIL, arrays).

        Example:
            >>> import numpy as np
            >>> len(FaceDetector(device="cpu")(np.zeros((80, 80, 3), np.uint8)))
            0
        """
        if isinstance(images, (list, tuple)):
            return self.detect([load_image(image) for image in images])
        return self.detect([load_image(images)])[0]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Faces in each of a list of ``HxWx3`` uint8 BGR arrays (sizes may differ).

        Returns:
            One ``Detections`` per image, in input order: class ``"face"``,
            ``confidence`` = MTCNN probability, ``landmarks`` (N, 5, 2) filled, boxes
            clipped to the image, highest confidence first (or one face, per ``keep``).

        Example:
            >>> import numpy as np
            >>> [len(d) for d in FaceDetector(device="cpu").detect([np.zeros((50, 60, 3), np.uint8)] * 2)]
            [0, 0]
        """
        arrays = [_check_array(image, i) for i, image in enumerate(images)]
        results: list[Detections | None] = [None] * len(arrays)
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, image in enumerate(arrays):
            groups[image.shape[:2]].append(i)
        with self._lock:
            for (height, width), indices in groups.items():
                for start in range(0, len(indices), self.batch_size):
                    chunk = indices[start : start + self.batch_size]
                    found = self._cascade([arrays[i] for i in chunk])
                    for i, (boxes, points) in zip(chunk, found):
                        results[i] = self._to_detections(boxes, points, (height, width))
        return [r for r in results if r is not None]

    # ------------------------------------------------------------------ internals
    def _to_detections(self, boxes: np.ndarray, points: np.ndarray, shape: tuple[int, int]) -> Detections:
        if len(boxes) == 0:
            return Detections(
                xyxy=np.zeros((0, 4), np.float32),
                confidence=np.zeros(0, np.float32),
                class_id=np.zeros(0, np.int64),
                names=FACE_NAMES,
                landmarks=np.zeros((0, 5, 2), np.float32),
                image_shape=shape,
            )
        height, width = shape
        xyxy = boxes[:, :4].astype(np.float32).copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        confidence = boxes[:, 4].astype(np.float32)
        order = keep_order(xyxy, confidence, self.keep)
        return Detections(
            xyxy=xyxy[order],
            confidence=confidence[order],
            class_id=np.zeros(len(order), np.int64),
            names=FACE_NAMES,
            landmarks=points[order].astype(np.float32),
            image_shape=shape,
        )

    def _cascade(self, images: list[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
        """The MTCNN cascade on same-size BGR images; per image ``(boxes (k, 5), points (k, 5, 2))``.

        The stages follow facenet-pytorch's ``detect_face`` step by step (same helpers,
        same NMS thresholds), minus its batch bookkeeping bugs: every stage may find
        nothing, for some images or for all of them.
        """
        import torch
        from facenet_pytorch.models.utils.detect_face import (
            batched_nms_numpy,
            bbreg,
            generateBoundingBox,
            imresample,
            pad,
            rerec,
        )
        from torchvision.ops.boxes import batched_nms

        device = self.device
        rgb = np.stack([image[:, :, ::-1] for image in images])  # BGR -> RGB, one copy
        with torch.inference_mode():
            imgs = torch.from_numpy(rgb).to(device).permute(0, 3, 1, 2).float()  # NCHW view, channels-last strides
            batch, (h, w) = len(images), imgs.shape[2:4]
            empty = [(np.zeros((0, 5), np.float32), np.zeros((0, 5, 2), np.float32)) for _ in range(batch)]

            # Stage 1: P-net over the image pyramid.
            m = 12.0 / self.min_face_size
            scales, minl = [], min(h, w) * m
            scale = m
            while minl >= 12:
                scales.append(scale)
                scale *= self.factor
                minl *= self.factor
            if not scales:
                return empty
            boxes_list, inds_list = [], []
            for scale in scales:
                data = imresample(imgs, (int(h * scale + 1), int(w * scale + 1)))
                data = (data - 127.5) * 0.0078125
                reg, probs = self.pnet(data)
                boxes_s, inds_s = generateBoundingBox(reg, probs[:, 1], scale, self.thresholds[0])
                if len(boxes_s) == 0:
                    continue
                pick = batched_nms(boxes_s[:, :4], boxes_s[:, 4], inds_s, 0.5)
                boxes_list.append(boxes_s[pick])
                inds_list.append(inds_s[pick])
            if not boxes_list:
                return empty
            boxes, inds = torch.cat(boxes_list), torch.cat(inds_list)
            pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
            boxes, inds = boxes[pick], inds[pick]
            regw, regh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
            boxes = torch.stack(
                [
                    boxes[:, 0] + boxes[:, 5] * regw,
                    boxes[:, 1] + boxes[:, 6] * regh,
                    boxes[:, 2] + boxes[:, 7] * regw,
                    boxes[:, 3] + boxes[:, 8] * regh,
                    boxes[:, 4],
                ]
            ).permute(1, 0)
            boxes = rerec(boxes)

            # Stage 2: R-net on 24x24 crops.
            sat = _SummedAreas(rgb)
            crops, keep = sat.crops(boxes, inds, 24, pad, device)
            if crops is None:
                return empty
            boxes, inds = boxes[keep], inds[keep]
            out = self.rnet(crops.contiguous(memory_format=torch.channels_last))
            reg, score = out[0], out[1][:, 1]
            passed = score > self.thresholds[1]
            boxes = torch.cat((boxes[passed, :4], score[passed].unsqueeze(1)), dim=1)
            inds, reg = inds[passed], reg[passed]
            if len(boxes) == 0:
                return empty
            pick = batched_nms(boxes[:, :4], boxes[:, 4], inds, 0.7)
            boxes, inds, reg = boxes[pick], inds[pick], reg[pick]
            boxes = rerec(bbreg(boxes, reg))

            # Stage 3: O-net on 48x48 crops, landmarks.
            crops, keep = sat.crops(boxes, inds, 48, pad, device)
            if crops is None:
                return empty
            boxes, inds = boxes[keep], inds[keep]
            out = self.onet(crops.contiguous(memory_format=torch.channels_last))
            reg, marks, score = out[0], out[1], out[2][:, 1]
            passed = score > self.thresholds[2]
            boxes = torch.cat((boxes[passed, :4], score[passed].unsqueeze(1)), dim=1)
            inds, reg, marks = inds[passed], reg[passed], marks[passed]
            if len(boxes) == 0:
                return empty
            bw = (boxes[:, 2] - boxes[:, 0] + 1).unsqueeze(1)
            bh = (boxes[:, 3] - boxes[:, 1] + 1).unsqueeze(1)
            points_x = bw * marks[:, :5] + boxes[:, 0:1] - 1
            points_y = bh * marks[:, 5:10] + boxes[:, 1:2] - 1
            points = torch.stack((points_x, points_y), dim=2)  # (k, 5, 2)
            boxes = bbreg(boxes, reg)
            pick = batched_nms_numpy(boxes[:, :4], boxes[:, 4], inds, 0.7, "Min")
            boxes_np = boxes[pick].cpu().numpy()
            points_np = points[pick].cpu().numpy()
            inds_np = inds[pick].cpu().numpy()
        return [(boxes_np[inds_np == b], points_np[inds_np == b]) for b in range(batch)]


class _SummedAreas:
    """Area-resampled crops of a batch of images through summed-area tables (NumPy, on the host).

    facenet-pytorch resizes each candidate box with its own ``interpolate(mode="area")``
    call (``adaptive_avg_pool2d``): thousands of tiny calls per batch, each a parallel
    region, which costs milliseconds apiece on a busy CPU. Adaptive average pooling
    averages the input over bins ``[floor(i*n/s), ceil((i+1)*n/s))``; with an integer
    summed-area table per image every bin sum is four look-ups, so all crops of an image
    come out of one vectorised gather. Pixel sums are exact integers either way, so the
    crops equal the library's (float32 division of the same sums). The arithmetic stays in
    NumPy (single-threaded: no thread wake-ups per small operation); only the finished
    crops go to the device.
    """

    def __init__(self, rgb: np.ndarray) -> None:
        self.rgb = rgb  # (B, H, W, 3) uint8
        self.tables: dict[int, np.ndarray] = {}

    def table(self, b: int) -> np.ndarray:
        """Flattened summed-area table of image ``b``: ``((H+1) * (W+1), 3)`` integers."""
        if b not in self.tables:
            height, width = self.rgb.shape[1:3]
            dtype = np.int32 if height * width * 255 < 2**31 else np.int64  # sums stay exact
            table = np.zeros((height + 1, width + 1, 3), dtype)
            np.cumsum(np.cumsum(self.rgb[b], axis=0, dtype=dtype), axis=1, out=table[1:, 1:])
            self.tables[b] = table.reshape(-1, 3)
        return self.tables[b]

    def crops(self, boxes: Any, inds: Any, size: int, pad: Any, device: Any) -> tuple[Any, Any]:
        """``(crops (K, 3, size, size) normalised as MTCNN wants, indices of the boxes that had a crop)``."""
        import torch

        h, w = self.rgb.shape[1:3]
        y, ey, x, ex = pad(boxes, w, h)  # 1-based inclusive corners, clipped to the image (numpy)
        y0, x0 = y.astype(np.int64) - 1, x.astype(np.int64) - 1
        y1, x1 = ey.astype(np.int64), ex.astype(np.int64)
        valid = np.flatnonzero((y1 > y0) & (x1 > x0))
        if len(valid) == 0:
            return None, None
        steps = np.arange(size, dtype=np.int64)
        image_of = inds.cpu().numpy()
        out = np.empty((len(valid), size, size, 3), np.float32)
        stride = w + 1
        for b in np.unique(image_of[valid]):
            at = np.flatnonzero(image_of[valid] == b)
            rows = valid[at]
            nh, nw = (y1 - y0)[rows, None], (x1 - x0)[rows, None]
            rs = y0[rows, None] + steps * nh // size  # bin [floor(i*n/s), ceil((i+1)*n/s)), as adaptive_avg_pool2d
            re = y0[rows, None] + -((-(steps + 1) * nh) // size)
            cs = x0[rows, None] + steps * nw // size
            ce = x0[rows, None] + -((-(steps + 1) * nw) // size)
            table = self.table(int(b))
            rs, re = rs[:, :, None] * stride, re[:, :, None] * stride
            cs, ce = cs[:, None, :], ce[:, None, :]
            sums = table[re + ce] - table[rs + ce] - table[re + cs] + table[rs + cs]  # (k, size, size, 3)
            counts = ((re - rs) // stride) * (ce - cs)
            out[at] = sums.astype(np.float32) / counts[..., None].astype(np.float32)
        out -= 127.5
        out *= 0.0078125
        crops = torch.from_numpy(out).permute(0, 3, 1, 2).to(device)  # channels-last strides, no copy on CPU
        return crops, torch.from_numpy(valid).to(boxes.device)


def _check_array(image: Any, index: int) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        what = f"{type(image).__name__}" if not isinstance(image, np.ndarray) else f"array {image.shape} {image.dtype}"
        raise ModelError(
            f"image {index}: FaceDetector.detect takes HxWx3 uint8 BGR arrays, got {what} "
            "(use detectkit.load_image, or call the detector itself on paths)"
        )
    return image


def make_mtcnn(*, device: Any = "auto", **options: Any) -> FaceDetector:
    """The ``"mtcnn"`` registry entry: ``FaceDetector(device=device, **options)``.

    Example:
        >>> make_mtcnn(device="cpu", keep="largest").keep
        'largest'
    """
    return FaceDetector(device=device, **options)


FACE_DETECTORS.register("mtcnn", make_mtcnn)
