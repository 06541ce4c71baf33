"""Threshold calibration: synthetic score distributions with known answers, pairs files, the plot."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from detectkit.errors import DatasetError
from detectkit.faces.calibration import calibrate, read_pairs, roc_curve


def gaussian_scores(n: int, same_mean: float, diff_mean: float, sd: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    scores = np.r_[rng.normal(same_mean, sd, n), rng.normal(diff_mean, sd, n)]
    same = np.r_[np.ones(n, bool), np.zeros(n, bool)]
    return scores, same


def test_known_answers_for_two_gaussians(tmp_path):
    """same ~ N(0.7, 0.1), different ~ N(0.1, 0.1): every figure has a closed form."""
    scores, same = gaussian_scores(200_000, 0.7, 0.1, 0.1)
    result = calibrate(scores, same, target_far=1e-3, plot=tmp_path / "roc.png")
    normal = NormalDist()
    # EER where the distributions cross: threshold 0.4, error Phi(-3)
    assert result.eer_threshold == pytest.approx(0.4, abs=0.005)
    assert result.eer == pytest.approx(normal.cdf(-3.0), rel=0.1)
    # FAR <= 1e-3: threshold at the 99.9th percentile of the impostor scores
    expected = 0.1 + 0.1 * normal.inv_cdf(1 - 1e-3)
    assert result.threshold == pytest.approx(expected, abs=0.005)
    assert result.far <= 1e-3 and result.far == pytest.approx(1e-3, rel=0.1)
    assert result.tar == pytest.approx(normal.cdf((0.7 - expected) / 0.1), abs=0.01)
    # accuracy: best at the crossing too, 1 - Phi(-3); AUC = Phi(d'/sqrt 2) with d' = 6
    assert result.accuracy == pytest.approx(1 - normal.cdf(-3.0), abs=5e-4)
    assert result.accuracy_threshold == pytest.approx(0.4, abs=0.02)
    assert result.cv_accuracy == pytest.approx(result.accuracy, abs=1e-3) and result.cv_std < 2e-3
    assert result.auc == pytest.approx(normal.cdf(6 / math.sqrt(2)), abs=1e-4)
    assert result.n_same == result.n_different == 200_000
    assert (tmp_path / "roc.png").stat().st_size > 10_000
    assert "EER" in result.summary() and result.to_dict()["threshold"] == pytest.approx(result.threshold)


def test_unequal_spreads_move_the_eer_threshold():
    """same ~ N(0.6, 0.05), different ~ N(0.2, 0.15): equal error where (0.6-t)/0.05 = (t-0.2)/0.15 -> t = 0.5."""
    scores, same = gaussian_scores(200_000, 0.6, 0.2, 1.0, seed=1)
    scores[same] = 0.6 + (scores[same] - 0.6) * 0.05
    scores[~same] = 0.2 + (scores[~same] - 0.2) * 0.15
    result = calibrate(scores, same)
    assert result.eer_threshold == pytest.approx(0.5, abs=0.005)
    assert result.eer == pytest.approx(NormalDist().cdf(-2.0), rel=0.05)


def test_roc_curve_and_perfect_separation():
    fpr, tpr, thresholds = roc_curve(np.array([0.9, 0.9, 0.5, 0.1]), np.array([True, False, True, False]))
    assert fpr.tolist() == [0.0, 0.5, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert np.isinf(thresholds[0]) and thresholds[1:].tolist() == [0.9, 0.5, 0.1]
    perfect = calibrate([0.9, 0.8, 0.7, 0.3, 0.2, 0.1], [1, 1, 1, 0, 0, 0], folds=3)
    assert perfect.eer == 0.0 and perfect.accuracy == 1.0 and perfect.auc == 1.0
    assert 0.3 < perfect.threshold <= 0.7 and perfect.far == 0.0 and perfect.tar == 1.0


def test_bad_scores_are_refused():
    with pytest.raises(DatasetError, match="both kinds"):
        calibrate([0.5, 0.6], [True, True])
    with pytest.raises(DatasetError, match="2 similarities but 3 labels"):
        calibrate([0.5, 0.6], [True, False, True])
    with pytest.raises(DatasetError, match="NaN"):
        calibrate([0.5, float("nan")], [True, False])
    with pytest.raises(DatasetError, match="target_far"):
        calibrate([0.5, 0.1], [True, False], target_far=0)


def test_read_lfw_pairs_file(shared):
    lfw = shared("data/faces/lfw")
    pairs = read_pairs(lfw / "pairs_fold1.txt")
    assert len(pairs) == 600 and sum(p.same for p in pairs) == 300
    assert pairs[0].a == lfw / "lfw-deepfunneled" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    assert pairs[0].b.name == "Abel_Pacheco_0004.jpg" and pairs[0].same
    assert all(p.a.is_file() and p.b.is_file() for p in pairs)
    different = pairs[300]
    assert not different.same and different.a.parent.name != different.b.parent.name
    full = read_pairs(lfw / "pairs.txt")
    assert len(full) == 6000 and full[:600] == pairs


def test_read_plain_pairs_and_errors(tmp_path):
    (tmp_path / "x").mkdir()
    listing = tmp_path / "pairs.txt"
    listing.write_text("# my pairs\nx/a.jpg x/b.jpg 1\n/abs/c.png x/d.png different\n")
    pairs = read_pairs(listing)
    assert [(p.a, p.b, p.same) for p in pairs] == [
        (tmp_path / "x/a.jpg", tmp_path / "x/b.jpg", True),
        (Path("/abs/c.png"), tmp_path / "x/d.png", False),
    ]
    bad = tmp_path / "bad.txt"
    bad.write_text("Ann\t1\t2\nthis line is wrong\n")
    with pytest.raises(DatasetError, match="bad.txt:2: expected"):
        read_pairs(bad, images_dir=tmp_path)
    with pytest.raises(DatasetError, match="no such pairs file"):
        read_pairs(tmp_path / "absent.txt")
    (tmp_path / "empty.txt").write_text("10\t300\n")
    with pytest.raises(DatasetError, match="no pairs"):
        read_pairs(tmp_path / "empty.txt")


@pytest.mark.shared
def test_recognizer_calibrate_on_lfw_pairs(recognizer, shared, tmp_path):
    """The whole path on 24 real LFW pairs (12 same, 12 different) with the random network:
    the numbers mean nothing for a random network, but every pair is scored and the plot is drawn."""
    lfw = shared("data/faces/lfw")
    pairs = read_pairs(lfw / "pairs_fold1.txt")
    subset = pairs[:12] + pairs[300:312]
    subset.append(type(subset[0])(tmp_path / "missing.jpg", subset[0].b, True))
    result = recognizer.calibrate(subset, target_far=0.05, plot=tmp_path / "lfw.png")
    assert result.n_same + result.n_different + result.skipped == 25
    assert result.skipped >= 1 and result.n_different >= 11
    # the numbers are the random network's, so check them against its own scores, not against a range
    scores, same = np.asarray(result.scores), np.asarray(result.same, bool)
    assert len(scores) == result.n_same + result.n_different and same.sum() == result.n_same
    accepted_different, accepted_same = scores[~same] >= result.threshold, scores[same] >= result.threshold
    assert result.far == pytest.approx(accepted_different.mean()) and result.far <= 0.05
    assert result.tar == pytest.approx(accepted_same.mean())
    far_at_eer = (scores[~same] >= result.eer_threshold).mean()
    frr_at_eer = (scores[same] < result.eer_threshold).mean()
    step = 1.0 / min(result.n_same, result.n_different)  # one pair's worth of rate
    assert abs(far_at_eer - result.eer) <= step + 1e-9 and abs(frr_at_eer - result.eer) <= step + 1e-9
    assert (tmp_path / "lfw.png").is_file()



def test_cross_validation_folds_keep_lfw_folds_and_hold_both_kinds():
    from detectkit.faces.calibration import cross_validation_folds

    # pairs.txt layout: 10 folds, each 30 same pairs then 30 different ones -> the file's own folds
    lfw = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], 10)
    assert cross_validation_folds(lfw, 10).tolist() == np.repeat(np.arange(10), 60).tolist()
    # pairs_fold1.txt layout: 300 same then 300 different -> every fold holds 30 of each
    fold1 = np.r_[np.ones(300, bool), np.zeros(300, bool)]
    folds = cross_validation_folds(fold1, 10)
    for f in range(10):
        assert int(fold1[folds == f].sum()) == 30 and int((~fold1[folds == f]).sum()) == 30
