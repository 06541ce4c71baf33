"""Threshold calibration from labelled same/different pairs: ROC, EER, accuracy, threshold at a target FAR.

A verification threshold is a trade: a lower one accepts more genuine pairs and
more impostors. :func:`calibrate` takes the similarity of each labelled pair and
reports the ROC curve, its area, the equal error rate, the best accuracy (and the
10-fold cross-validated accuracy of the LFW protocol: threshold chosen on nine folds,
measured on the tenth), and the threshold that keeps the false-accept rate at or under
a target. :func:`read_pairs` reads LFW's ``pairs.txt`` (and a plain
``IMAGE_A IMAGE_B LABEL`` list); :meth:`detectkit.FaceRecognizer.calibrate` embeds the
images and calls :func:`calibrate`.

Example:
    >>> import numpy as np
    >>> from detectkit.faces.calibration import calibrate
    >>> rng = np.random.default_rng(0)
    >>> scores = np.r_[rng.normal(0.7, 0.1, 5000), rng.normal(0.1, 0.1, 5000)]
    >>> same = np.r_[np.ones(5000, bool), np.zeros(5000, bool)]
    >>> result = calibrate(scores, same, target_far=0.01)
    >>> round(result.eer_threshold, 1), result.auc > 0.99
    (0.4, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import DatasetError

__all__ = ["Calibration", "Pair", "calibrate", "read_pairs", "roc_curve"]


@dataclass(frozen=True)
class Pair:
    """Two images and whether they show the same person."""

    a: Path
    b: Path
    same: bool


def roc_curve(scores: np.ndarray, same: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` for the rule "same when score >= threshold", thresholds descending.

    The first point is ``(0, 0)`` at threshold ``+inf``.

    Example:
        >>> fpr, tpr, t = roc_curve(np.array([0.9, 0.8, 0.3]), np.array([True, False, True]))
        >>> fpr.tolist(), tpr.tolist()
        ([0.0, 0.0, 1.0, 1.0], [0.0, 0.5, 0.5, 1.0])
    """
    scores = np.asarray(scores, dtype=np.float64)
    same = np.asarray(same, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    scores, same = scores[order], same[order]
    last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]  # last index of each distinct score
    tp = np.cumsum(same)[last]
    fp = np.cumsum(~same)[last]
    positives, negatives = max(int(same.sum()), 1), max(int((~same).sum()), 1)
    tpr = np.r_[0.0, tp / positives]
    fpr = np.r_[0.0, fp / negatives]
    return fpr, tpr, np.r_[np.inf, scores[last]]


@dataclass
class Calibration:
    """What :func:`calibrate` measured. Similarities >= a threshold mean "same person".

    Attributes:
        fpr, tpr, thresholds: the ROC curve (thresholds descending).
        auc: area under the ROC curve.
        eer: equal error rate (false-accept rate = false-reject rate), and ``eer_threshold`` there.
        accuracy: best accuracy over all thresholds, at ``accuracy_threshold``.
        cv_accuracy, cv_std: mean and spread of the k-fold cross-validated accuracy.
        target_far: the false-accept rate asked for; ``threshold`` keeps FAR at or under
            it on these pairs, with ``far`` the FAR and ``tar`` the true-accept rate there.
        n_same, n_different: how many pairs of each kind.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    eer: float
    eer_threshold: float
    accuracy: float
    accuracy_threshold: float
    cv_accuracy: float
    cv_std: float
    target_far: float
    threshold: float
    far: float
    tar: float
    n_same: int
    n_different: int
    scores: np.ndarray | None = None
    same: np.ndarray | None = None
    skipped: int = 0

    def summary(self) -> str:
        """A few lines for people.

        Example:
            >>> print(calibrate([0.9, 0.8, 0.2, 0.1], [True, True, False, False], folds=2).summary().splitlines()[0])
            pairs: 2 same, 2 different
        """
        skipped = f" ({self.skipped} left out: unreadable photo or no face)" if self.skipped else ""
        return "\n".join(
            [
                f"pairs: {self.n_same} same, {self.n_different} different{skipped}",
                f"AUC {self.auc:.4f}; EER {self.eer:.4f} at similarity {self.eer_threshold:.4f}",
                f"best accuracy {self.accuracy:.4f} at similarity {self.accuracy_threshold:.4f}; "
                f"cross-validated accuracy {self.cv_accuracy:.4f} +- {self.cv_std:.4f}",
                f"threshold for FAR <= {self.target_far:g}: {self.threshold:.4f} "
                f"(FAR {self.far:.4g}, TAR {self.tar:.4f})",
            ]
        )

    def to_dict(self) -> dict[str, Any]:
        """The figures (not the curve) as plain Python.

        Example:
            >>> calibrate([0.9, 0.8, 0.2, 0.1], [True, True, False, False], folds=2).to_dict()["eer"]
            0.0
        """
        keys = (
            "auc", "eer", "eer_threshold", "accuracy", "accuracy_threshold", "cv_accuracy", "cv_std",
            "target_far", "threshold", "far", "tar", "n_same", "n_different", "skipped",
        )
        return {k: int(getattr(self, k)) if k.startswith("n_") or k == "skipped" else float(getattr(self, k)) for k in keys}

    def plot(self, path: str | os.PathLike) -> Path:
        """Save the ROC curve and the two score histograms as an image (PNG, SVG, PDF...).

        Usage:
            calibrate(scores, same).plot("roc.png")   # or calibrate(..., plot="roc.png")
        """
        from matplotlib.figure import Figure  # no pyplot: the caller's backend and figures are left alone

        fig = Figure(figsize=(11, 4.2))
        left, right = fig.subplots(1, 2)
        fpr = np.maximum(self.fpr, 1e-6)
        left.plot(fpr, self.tpr, lw=1.5)
        left.set_xscale("log")
        floor = max(1e-4, 0.5 / max(self.n_different, 1))  # below one false accept: drawn at the left edge
        left.set_xlim(floor, 1.0)
        left.set_xlabel("false-accept rate")
        left.set_ylabel("true-accept rate")
        left.set_title(f"ROC (AUC {self.auc:.4f}, EER {self.eer:.3f})")
        left.plot([max(self.far, floor)], [self.tar], "o", label=f"threshold {self.threshold:.3f}")
        left.legend(loc="lower right")
        left.grid(alpha=0.3)
        if self.scores is not None and self.same is not None:
            bins = np.linspace(min(-0.2, float(self.scores.min())), 1.0, 60)
            right.hist(self.scores[self.same], bins=bins, alpha=0.6, label="same person")
            right.hist(self.scores[~self.same], bins=bins, alpha=0.6, label="different people")
        right.axvline(self.threshold, color="k", ls="--", label=f"FAR<={self.target_far:g}: {self.threshold:.3f}")
        right.axvline(self.eer_threshold, color="gray", ls=":", label=f"EER: {self.eer_threshold:.3f}")
        right.set_xlabel("cosine similarity")
        right.set_ylabel("pairs")
        right.legend()
        fig.tight_layout()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(target, dpi=110)
        return target


def _best_accuracy(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    fpr, tpr, thresholds = roc_curve(scores, same)
    p, n = same.sum(), (~same).sum()
    accuracy = (tpr * p + (1 - fpr) * n) / max(p + n, 1)
    i = int(np.argmax(accuracy))
    threshold = thresholds[i]
    if not np.isfinite(threshold):  # "reject everything" is best: put the threshold just above the top score
        threshold = float(np.nextafter(scores.max(), np.inf))
    return float(accuracy[i]), float(threshold)


def cross_validation_folds(same: np.ndarray, k: int) -> np.ndarray:
    """The fold (0..k-1) of each pair: consecutive blocks of the same-person pairs and of the others.

    LFW's ``pairs.txt`` (each fold lists its same pairs, then its different ones) keeps its own
    folds, and a file that lists every same pair first (``pairs_fold1.txt``) still gets folds that
    each hold both kinds.

    Example:
        >>> cross_validation_folds(np.array([True, True, True, True, False, False, False, False]), 2).tolist()
        [0, 0, 1, 1, 0, 0, 1, 1]
    """
    same = np.asarray(same, dtype=bool)
    fold_of = np.empty(len(same), dtype=np.int64)
    for kind in (same, ~same):
        members = np.flatnonzero(kind)
        fold_of[members] = np.arange(len(members)) * k // max(len(members), 1)
    return fold_of


def calibrate(
    similarities: Sequence[float] | np.ndarray,
    same: Sequence[bool] | np.ndarray,
    *,
    target_far: float = 1e-3,
    folds: int = 10,
    plot: str | os.PathLike | None = None,
) -> Calibration:
    """ROC, EER, accuracy and the threshold for a target false-accept rate, from labelled pair scores.

    Args:
        similarities: cosine similarity of each pair.
        same: whether each pair shows one person.
        target_far: the false-accept rate the returned ``threshold`` must not exceed.
        folds: folds of the cross-validated accuracy (consecutive blocks of the same-person
            pairs and of the different-people pairs, so LFW's ``pairs.txt`` keeps its ten folds
            and every fold holds both kinds).
        plot: also save the ROC and histograms to this image file.

    Raises:
        DatasetError: mismatched lengths, non-finite scores, or no pairs of one kind.

    Example:
        >>> calibrate([0.9, 0.8, 0.2, 0.1], [True, True, False, False], folds=2).eer
        0.0
    """
    scores = np.asarray(similarities, dtype=np.float64).reshape(-1)
    labels = np.asarray(same, dtype=bool).reshape(-1)
    if len(scores) != len(labels):
        raise DatasetError(f"{len(scores)} similarities but {len(labels)} labels")
    if not np.all(np.isfinite(scores)):
        raise DatasetError("similarities contain NaN or infinite values")
    n_same, n_diff = int(labels.sum()), int((~labels).sum())
    if n_same == 0 or n_diff == 0:
        raise DatasetError(f"need pairs of both kinds: got {n_same} same-person and {n_diff} different-people pairs")
    if not 0.0 < target_far < 1.0:
        raise DatasetError(f"target_far must be in (0, 1), got {target_far}")
    fpr, tpr, thresholds = roc_curve(scores, labels)
    auc = float(np.trapezoid(tpr, fpr)) if hasattr(np, "trapezoid") else float(np.trapz(tpr, fpr))

    # Equal error rate: where FAR = FRR, interpolated between the two ROC points around it.
    frr = 1.0 - tpr
    i = int(np.argmax(frr <= fpr))  # first point where the curves have crossed
    if i == 0:
        eer, eer_threshold = 0.0, float(thresholds[1])
    else:
        d0, d1 = frr[i - 1] - fpr[i - 1], frr[i] - fpr[i]
        w = d0 / (d0 - d1) if d0 != d1 else 0.0
        eer = float(fpr[i - 1] + w * (fpr[i] - fpr[i - 1]))
        t0 = thresholds[i - 1] if np.isfinite(thresholds[i - 1]) else thresholds[i]
        eer_threshold = float(t0 + w * (thresholds[i] - t0))
        if fpr[i - 1] == 0.0 and frr[i] == 0.0:  # perfectly separated: no error anywhere in between
            eer = 0.0

    accuracy, accuracy_threshold = _best_accuracy(scores, labels)
    k = max(2, min(int(folds), len(scores) // 2))
    fold_of = cross_validation_folds(labels, k)
    fold_acc = []
    for f in range(k):
        train, test = fold_of != f, fold_of == f
        if labels[train].all() or (~labels[train]).all() or not test.any():
            continue
        _, t = _best_accuracy(scores[train], labels[train])
        fold_acc.append(float(np.mean((scores[test] >= t) == labels[test])))
    cv_accuracy = float(np.mean(fold_acc)) if fold_acc else accuracy
    cv_std = float(np.std(fold_acc)) if fold_acc else 0.0

    ok = np.flatnonzero(fpr <= target_far)
    j = int(ok[-1])  # lowest threshold whose FAR is still within the target
    threshold = float(thresholds[j]) if np.isfinite(thresholds[j]) else float(np.nextafter(scores.max(), np.inf))
    result = Calibration(
        fpr=fpr,
        tpr=tpr,
        thresholds=thresholds,
        auc=auc,
        eer=eer,
        eer_threshold=eer_threshold,
        accuracy=accuracy,
        accuracy_threshold=accuracy_threshold,
        cv_accuracy=cv_accuracy,
        cv_std=cv_std,
        target_far=float(target_far),
        threshold=threshold,
        far=float(fpr[j]),
        tar=float(tpr[j]),
        n_same=n_same,
        n_different=n_diff,
        scores=scores,
        same=labels,
    )
    if plot is not None:
        result.plot(plot)
    return result


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


_LABELS = {"1": True, "same": True, "true": True, "0": False, "different": False, "diff": False, "false": False}


def read_pairs(path: str | os.PathLike, images_dir: str | os.PathLike | None = None) -> list[Pair]:
    """Read labelled pairs: LFW's ``pairs.txt`` format, or lines ``IMAGE_A IMAGE_B LABEL``.

    LFW format: an optional header ``folds<TAB>n``, then ``name<TAB>i<TAB>j`` (same person)
    and ``name1<TAB>i<TAB>name2<TAB>j`` (different people); the image is
    ``images_dir/name/name_000i.jpg``. ``images_dir`` defaults to the first of
    ``lfw-deepfunneled/``, ``lfw/`` or the folder of ``path`` that holds the images.
    Plain format: two image paths (relative ones are taken from ``images_dir`` or the
    file's folder) and a label ``1``/``0`` or ``same``/``different``.

    Raises:
        DatasetError: missing file or a line in neither format (the message names the line).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "pairs.txt"
        >>> _ = p.write_text("1\\t2\\nAnn\\t1\\t2\\nAnn\\t1\\tBob\\t3\\n")
        >>> [(x.a.name, x.b.name, x.same) for x in read_pairs(p, images_dir=p.parent)]
        [('Ann_0001.jpg', 'Ann_0002.jpg', True), ('Ann_0001.jpg', 'Bob_0003.jpg', False)]
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such pairs file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot be read as text ({exc})") from exc
    rows = [(n, line.split()) for n, line in enumerate(lines, 1) if line.strip() and not line.lstrip().startswith("#")]
    if rows and len(rows[0][1]) == 2 and all(_is_int(f) for f in rows[0][1]):
        rows = rows[1:]  # LFW header: folds, pairs per fold
    base = Path(images_dir) if images_dir is not None else None
    if base is None:
        for candidate in (path.parent / "lfw-deepfunneled", path.parent / "lfw", path.parent):
            if candidate.is_dir():
                base = candidate
                break
    base = base or path.parent

    def lfw(name: str, number: str) -> Path:
        return base / name / f"{name}_{int(number):04d}.jpg"

    def plain(text: str) -> Path:
        p = Path(text).expanduser()
        return p if p.is_absolute() else (base / p)

    pairs: list[Pair] = []
    for n, fields in rows:
        if len(fields) == 3 and _is_int(fields[1]) and _is_int(fields[2]):
            pairs.append(Pair(lfw(fields[0], fields[1]), lfw(fields[0], fields[2]), True))
        elif len(fields) == 4 and _is_int(fields[1]) and _is_int(fields[3]):
            pairs.append(Pair(lfw(fields[0], fields[1]), lfw(fields[2], fields[3]), False))
        elif len(fields) == 3 and fields[2].lower() in _LABELS:
            pairs.append(Pair(plain(fields[0]), plain(fields[1]), _LABELS[fields[2].lower()]))
        else:
            raise DatasetError(
                f"{path}:{n}: expected 'name i j', 'name1 i name2 j' (LFW) or 'IMAGE_A IMAGE_B 1|0', got {' '.join(fields)!r}"
            )
    if not pairs:
        raise DatasetError(f"{path}: no pairs in the file")
    return pairs
