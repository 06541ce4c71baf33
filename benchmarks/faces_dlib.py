"""dlib-resnet (dlib's face ResNet rebuilt in torch) against face_recognition's recipe on dlib-bin.

One run over the same LFW photos (``../shared/data/faces/lfw``: the 807 photos of
``pairs_fold1.txt`` and the 400 of ``gallery_identities.txt``, 10 per person):

* ``face_recognition`` recipe, through dlib-bin, the calls ``face_recognition.face_encodings``
  makes: HOG detector (``get_frontal_face_detector``, upsample 1), the 5-point predictor,
  ``get_face_chip`` 150 px padding 0.25, ``compute_face_descriptor``, Euclidean distance
  (tolerance 0.6 = ``compare_faces``' default);
* detectkit: MTCNN (``FaceDetector``), dlib's chip from MTCNN's five points with
  ``MTCNN_TEMPLATE``, the torch network, cosine similarity;
* alignment variant: dlib's 5-point predictor run on the MTCNN box (dlib at run time).

Which face of a photo: the one whose box centre is nearest the image centre (LFW centres
the named person; the largest face is sometimes a background one, facenet-pytorch issue 120).
A photo where a detector finds no face makes its pairs count as "different" (a miss).

Sub-commands (``all`` runs them in order); ``extract`` caches detections and dlib's
descriptors in ``--cache`` so the others are quick:

* ``extract``: detections, landmarks, dlib descriptors of every photo;
* ``template``: fits ``MTCNN_TEMPLATE`` / ``BOX_TEMPLATE`` on the gallery photos only;
* ``lfw``: fold-1 verification accuracy (10-fold CV), best threshold, equality of descriptors;
* ``gallery``: identification, photos 1-5 enrolled and 6-10 probed; fold-1 people not in the
  gallery probe as strangers (open-set false accepts);
* ``speed``: embedding time per face on one thread, torch (batch 1 and 32) against dlib-bin;
* ``enrol``: 400 gallery photos, detectkit's ``FaceRecognizer.enroll_many`` (batched detection,
  quality checks, one face per photo, in-memory gallery) against the
  face_recognition per-photo loop (load, ``face_locations``, ``face_encodings``).

Run:  python benchmarks/faces_dlib.py all --cache /tmp/faces_dlib.npz
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import SHARED, machine, table  # noqa: E402

LFW = SHARED / "data/faces/lfw"
MODELS = None  # face_recognition_models' folder, found on first use


def models_dir() -> Path:
    from detectkit.faces.dlib_resnet import _package_models_dir

    folder = _package_models_dir()
    if folder is None:
        raise SystemExit("face-recognition-models is not installed: pip install 'detectkit[dlib]'")
    return folder


def photo_lists() -> tuple[list[Path], list[tuple[Path, Path, bool]], dict[str, list[Path]]]:
    from detectkit.faces.calibration import read_pairs

    pairs = [(p.a, p.b, p.same) for p in read_pairs(LFW / "pairs_fold1.txt", LFW / "lfw-deepfunneled")]
    names = [n.strip() for n in (LFW / "gallery_identities.txt").read_text().splitlines() if n.strip()]
    gallery = {n: sorted((LFW / "lfw-deepfunneled" / n).glob("*.jpg"))[:10] for n in names}
    in_gallery = [p for ps in gallery.values() for p in ps]
    photos = in_gallery + sorted({p for a, b, _ in pairs for p in (a, b)} - set(in_gallery))  # gallery first
    return photos, pairs, gallery


def central(xyxy: np.ndarray, shape: tuple[int, int]) -> int:
    """Index of the box whose centre is nearest the image centre (-1 when there is none)."""
    if len(xyxy) == 0:
        return -1
    centres = (np.asarray(xyxy)[:, :2] + np.asarray(xyxy)[:, 2:]) / 2
    return int(np.argmin(np.linalg.norm(centres - np.array([shape[1], shape[0]]) / 2, axis=1)))


def shape_points(shape) -> np.ndarray:
    return np.array([[p.x, p.y] for p in shape.parts()], np.float64)


# --------------------------------------------------------------------------- extract
def extract(cache: Path, dlib_descriptors: int = 150) -> None:
    import cv2
    import dlib
    import torch

    from detectkit.faces import FaceDetector

    photos, _, _ = photo_lists()
    folder = models_dir()
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    recognizer = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
    mtcnn = FaceDetector(device="cpu")
    torch.set_num_threads(1)  # a script: the machine is shared
    n = len(photos)
    done = 0
    if cache.is_file():  # resume an interrupted run
        rec = dict(np.load(cache))
        done = int(rec.pop("done", n))
        if list(rec["paths"]) != [str(p.relative_to(LFW)) for p in photos]:
            raise SystemExit(f"{cache}: made for other photos; delete it")
    else:
        rec = {
        "paths": np.array([str(p.relative_to(LFW)) for p in photos]),
        "m_found": np.zeros(n, bool), "m_box": np.zeros((n, 4)), "m_points": np.zeros((n, 5, 2)),
        "m_dlib5": np.zeros((n, 5, 2)),  # dlib's 5-point predictor on the MTCNN box
        "d_found": np.zeros(n, bool), "d_box": np.zeros((n, 4)), "d_points": np.zeros((n, 5, 2)),
        "d_desc": np.zeros((n, 128)), "d_chip": np.zeros((n, 150, 150, 3), np.uint8),
        "d_first_desc": np.zeros((n, 128)), "d_count": np.zeros(n, int), "m_count": np.zeros(n, int),
        }
    for key, empty in (("d_first_chip", np.zeros((n, 150, 150, 3), np.uint8)), ("d_by_dlib", np.zeros(n, bool))):
        if key not in rec:  # caches from before these fields
            rec[key] = empty
            if key == "d_by_dlib":
                rec[key][:done] = rec["d_found"][:done]
                rec["d_first_chip"][:done] = rec["d_chip"][:done]
    start = time.perf_counter()
    for i, path in enumerate(photos):
        if i < done:
            continue
        bgr = cv2.imread(str(path))
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        faces = mtcnn.detect([bgr])[0]
        rec["m_count"][i] = len(faces)
        j = central(faces.xyxy, bgr.shape[:2])
        if j >= 0:
            rec["m_found"][i] = True
            rec["m_box"][i] = faces.xyxy[j]
            rec["m_points"][i] = faces.landmarks[j]
            x1, y1, x2, y2 = (int(round(v)) for v in faces.xyxy[j])
            rec["m_dlib5"][i] = shape_points(predictor(rgb, dlib.rectangle(x1, y1, x2, y2)))
        boxes = hog(rgb, 1)
        rec["d_count"][i] = len(boxes)
        if len(boxes):
            xyxy = np.array([[b.left(), b.top(), b.right(), b.bottom()] for b in boxes], np.float64)
            k = central(xyxy, bgr.shape[:2])
            shapes = [predictor(rgb, b) for b in boxes]
            rec["d_found"][i] = True
            rec["d_box"][i] = xyxy[k]
            rec["d_points"][i] = shape_points(shapes[k])
            chip = dlib.get_face_chip(rgb, shapes[k], 150, 0.25)
            rec["d_chip"][i] = chip
            rec["d_first_chip"][i] = chip if k == 0 else dlib.get_face_chip(rgb, shapes[0], 150, 0.25)
            if i < dlib_descriptors:  # dlib-bin's own descriptors (the rest: the torch port, equal to 1e-6)
                rec["d_by_dlib"][i] = True
                rec["d_desc"][i] = np.array(recognizer.compute_face_descriptor(chip))
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{n} photos, {time.perf_counter() - start:.0f} s", flush=True)
            np.savez(cache, done=i + 1, **rec)
    np.savez(cache, done=n, **rec)
    print(f"extract: {n} photos in {time.perf_counter() - start:.0f} s -> {cache}")


def load_cache(cache: Path) -> dict[str, np.ndarray]:
    if not cache.is_file():
        raise SystemExit(f"{cache}: run `extract` first")
    data = dict(np.load(cache))
    if int(data.pop("done", len(data["paths"]))) < len(data["paths"]):
        print(f"note: {cache} is partial (extract still running)")
    return data


# --------------------------------------------------------------------------- template
def fit_template(cache: Path) -> dict[str, list[list[float]]]:
    """MTCNN's points in dlib's unpadded chip square, and in the MTCNN box: means over gallery photos."""
    from detectkit.faces.dlib_chip import CHIP_PADDING, CHIP_SIZE, DLIB_5POINT_TEMPLATE, chip_transform

    data = load_cache(cache)
    _, _, gallery = photo_lists()
    wanted = {str(p.relative_to(LFW)) for ps in gallery.values() for p in ps}
    in_chip, in_box = [], []
    for i, rel in enumerate(data["paths"]):
        if rel not in wanted or not (data["m_found"][i] and data["d_found"][i]):
            continue
        # the same face? (HOG's and MTCNN's central boxes overlap)
        if np.linalg.norm(data["m_box"][i, :2] + data["m_box"][i, 2:] - data["d_box"][i, :2] - data["d_box"][i, 2:]) / 2 > 20:
            continue
        m = chip_transform(data["d_points"][i], DLIB_5POINT_TEMPLATE, CHIP_SIZE, CHIP_PADDING)  # chip -> image
        inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
        pts = data["m_points"][i] @ inverse[:, :2].T + inverse[:, 2]
        in_chip.append(pts / CHIP_SIZE * (1 + 2 * CHIP_PADDING) - CHIP_PADDING)
        box = data["m_box"][i]
        in_box.append((data["m_points"][i] - box[:2]) / (box[2:] - box[:2]))
    chip_mean, box_mean = np.mean(in_chip, axis=0), np.mean(in_box, axis=0)
    out = {"faces": len(in_chip), "MTCNN_TEMPLATE": chip_mean.round(4).tolist(), "BOX_TEMPLATE": box_mean.round(4).tolist(),
           "spread_in_chip": float(np.std(np.array(in_chip) - chip_mean, axis=0).mean())}
    print("template (gallery photos only):", json.dumps(out))
    return out


# --------------------------------------------------------------------------- descriptors from the cache
def torch_descriptors(data: dict[str, np.ndarray], embedder) -> dict[str, np.ndarray]:
    """Per photo: L2-normalised torch vectors for each alignment, and the raw ones of dlib's own chips."""
    import cv2

    from detectkit.faces.dlib_chip import DLIB_5POINT_TEMPLATE, face_chips

    n = len(data["paths"])
    mt_chips = np.zeros((n, 150, 150, 3), np.uint8)
    d5_chips = np.zeros((n, 150, 150, 3), np.uint8)
    for i, rel in enumerate(data["paths"]):
        if data["m_found"][i]:
            rgb = np.ascontiguousarray(cv2.imread(str(LFW / rel))[:, :, ::-1])
            mt_chips[i] = face_chips(rgb, data["m_points"][i][None])[0]
            d5_chips[i] = face_chips(rgb, data["m_dlib5"][i][None], template=DLIB_5POINT_TEMPLATE)[0]
    found = data["d_found"]
    by_torch = found & ~data["d_by_dlib"]
    data["d_desc"][by_torch] = embedder.descriptors(data["d_chip"][by_torch])
    data["d_first_desc"][found] = embedder.descriptors(data["d_first_chip"][found])
    return {
        "mtcnn5": embedder.embed_crops(mt_chips.transpose(0, 3, 1, 2).astype(np.float32)),
        "mtcnn_box+dlib5": embedder.embed_crops(d5_chips.transpose(0, 3, 1, 2).astype(np.float32)),
        "dlib_chip_raw": embedder.descriptors(data["d_chip"][data["d_by_dlib"]]),
    }


def pair_scores(vectors: np.ndarray, found: np.ndarray, index: dict[str, int], pairs, *, euclidean: bool = False):
    scores, same = [], []
    for a, b, s in pairs:
        i, j = index[str(a.relative_to(LFW))], index[str(b.relative_to(LFW))]
        if not (found[i] and found[j]):
            scores.append(-np.inf)
        elif euclidean:
            scores.append(-float(np.linalg.norm(vectors[i] - vectors[j])))
        else:
            scores.append(float(vectors[i] @ vectors[j]))
        same.append(s)
    return np.array(scores), np.array(same)


def lfw(cache: Path, embedder) -> dict:
    from detectkit.faces.calibration import calibrate

    data = load_cache(cache)
    _, pairs, _ = photo_lists()
    index = {rel: i for i, rel in enumerate(data["paths"])}
    vec = torch_descriptors(data, embedder)
    found_d = data["d_found"]
    diff = np.abs(vec["dlib_chip_raw"] - data["d_desc"][data["d_by_dlib"]].astype(np.float32))
    rows, results = [], {}
    variants = [
        ("face_recognition recipe (dlib-bin), central face", data["d_desc"], found_d, True),
        ("face_recognition recipe (dlib-bin), first face", data["d_first_desc"], found_d, True),
        ("detectkit MTCNN 5 points + dlib-resnet (torch)", vec["mtcnn5"], data["m_found"], False),
        ("MTCNN box + dlib 5-point predictor + dlib-resnet", vec["mtcnn_box+dlib5"], data["m_found"], False),
    ]
    for label, vectors, found, euclid in variants:
        scores, same = pair_scores(vectors, found, index, pairs, euclidean=euclid)
        finite = np.where(np.isfinite(scores), scores, scores[np.isfinite(scores)].min() - 1)
        cal = calibrate(finite, same, folds=10, target_far=1e-2)
        at_default = float(np.mean((finite >= -0.6) == same)) if euclid else float("nan")
        misses = int((~np.isfinite(scores)).sum())
        thr = -cal.accuracy_threshold if euclid else cal.accuracy_threshold
        results[label] = {"cv_accuracy": cal.cv_accuracy, "cv_std": cal.cv_std, "best_accuracy": cal.accuracy,
                          "best_threshold": thr, "accuracy_at_0.6": at_default, "pairs_missing_a_face": misses,
                          "eer": cal.eer, "auc": cal.auc}
        rows.append([label, f"{cal.cv_accuracy:.4f} ± {cal.cv_std:.4f}", f"{cal.accuracy:.4f}",
                     f"{'distance ' if euclid else 'cosine '}{thr:.3f}",
                     "" if not euclid else f"{at_default:.4f}", f"{cal.eer:.4f}", misses])
    print(table(["pipeline (LFW pairs_fold1, 600 pairs)", "10-fold CV accuracy", "best accuracy", "best threshold",
                 "accuracy at 0.6", "EER", "pairs missing a face"], rows))
    print(f"\ndescriptor equality, torch vs dlib-bin on dlib's own chips: {int(data['d_by_dlib'].sum())} faces, "
          f"max abs diff {diff.max():.2e}, mean {diff.mean():.2e}")
    results["equality"] = {"faces": int(data["d_by_dlib"].sum()), "max_abs_diff": float(diff.max())}
    return results


# --------------------------------------------------------------------------- gallery identification
def gallery_id(cache: Path, embedder, threshold: float) -> dict:
    data = load_cache(cache)
    _, pairs, gallery = photo_lists()
    index = {rel: i for i, rel in enumerate(data["paths"])}
    vec = torch_descriptors(data, embedder)["mtcnn5"]
    enrolled = {n: [index[str(p.relative_to(LFW))] for p in ps[:5]] for n, ps in gallery.items()}
    probes = [(n, index[str(p.relative_to(LFW))]) for n, ps in gallery.items() for p in ps[5:10]]
    strangers = sorted({index[str(p.relative_to(LFW))] for a, b, _ in pairs for p in (a, b)
                        if p.parent.name not in gallery})
    rows, results = [], {}
    for label, vectors, found, euclid in (
        ("face_recognition compare_faces (tolerance 0.6)", data["d_desc"], data["d_found"], True),
        (f"detectkit dlib-resnet (cosine >= {threshold:.2f})", vec, data["m_found"], False),
    ):
        names, rows_v = [], []
        for n, idx in enrolled.items():
            for i in idx:
                if found[i]:
                    names.append(n)
                    rows_v.append(vectors[i])
        known = np.array(rows_v)

        def best(i: int) -> tuple[str | None, bool]:
            if not found[i]:
                return None, False
            if euclid:
                d = np.linalg.norm(known - vectors[i], axis=1)
                k = int(np.argmin(d))
                return names[k], bool(d[k] <= 0.6)
            s = known @ vectors[i]
            k = int(np.argmax(s))
            return names[k], bool(s[k] >= threshold)

        top1 = correct_accepted = 0
        for n, i in probes:
            name, accepted = best(i)
            top1 += name == n
            correct_accepted += name == n and accepted
        false_accepts = sum(best(i)[1] for i in strangers)
        results[label] = {"probes": len(probes), "top1": top1 / len(probes), "named_correctly": correct_accepted / len(probes),
                          "strangers": len(strangers), "false_accepts": false_accepts}
        rows.append([label, f"{top1 / len(probes):.4f}", f"{correct_accepted / len(probes):.4f}",
                     f"{false_accepts}/{len(strangers)} ({false_accepts / len(strangers):.4f})"])
    print(table(["gallery: 40 people, photos 1-5 enrolled, 6-10 probed", "top-1 (closed set)",
                 "named correctly at threshold", "strangers accepted"], rows))
    return results


# --------------------------------------------------------------------------- speed
def speed(cache: Path, embedder, count: int = 40) -> dict:
    import dlib
    import torch

    data = load_cache(cache)
    chips = data["d_chip"][data["d_found"]][:count]
    recognizer = dlib.face_recognition_model_v1(str(models_dir() / "dlib_face_recognition_resnet_model_v1.dat"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        timings = {}
        for rnd in range(2):
            start = time.perf_counter()
            ref = np.array([np.array(recognizer.compute_face_descriptor(c)) for c in chips])
            timings.setdefault("dlib-bin compute_face_descriptor, one chip per call", []).append((time.perf_counter() - start) / len(chips))
            float_chips = chips.transpose(0, 3, 1, 2).astype(np.float32)
            for bs in (1, 32):
                embedder.batch_size = bs
                embedder.descriptors(float_chips[:2])  # warm
                start = time.perf_counter()
                out = embedder.descriptors(float_chips)
                timings.setdefault(f"dlib-resnet torch, batch {bs}", []).append((time.perf_counter() - start) / len(chips))
        embedder.batch_size = 32
    finally:
        torch.set_num_threads(before)
    base = min(timings["dlib-bin compute_face_descriptor, one chip per call"])
    rows = [[k, f"{min(v) * 1000:.1f}", f"{base / min(v):.1f}x"] for k, v in timings.items()]
    print(table([f"embedding {len(chips)} LFW chips, 1 thread (best of 2)", "ms / face", "vs dlib-bin"], rows))
    print(f"same descriptors: max abs diff {np.abs(out - ref).max():.2e}")
    return {k: min(v) for k, v in timings.items()}


# --------------------------------------------------------------------------- enrolment
def enrol(embedder) -> dict:
    import cv2
    import dlib

    from detectkit.faces import FaceDetector

    _, _, gallery = photo_lists()
    photos = [p for ps in gallery.values() for p in ps]
    folder = models_dir()
    hog = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(folder / "shape_predictor_5_face_landmarks.dat"))
    recognizer = dlib.face_recognition_model_v1(str(folder / "dlib_face_recognition_resnet_model_v1.dat"))
    # face_recognition's loop: load_image_file, face_locations (hog, upsample 1), face_encodings (small, 1 jitter)
    start = time.perf_counter()
    fr_faces = 0
    for p in photos:
        rgb = np.ascontiguousarray(cv2.imread(str(p))[:, :, ::-1])
        boxes = hog(rgb, 1)
        for b in boxes:
            np.array(recognizer.compute_face_descriptor(rgb, predictor(rgb, b), 1))
            fr_faces += 1
    fr_time = time.perf_counter() - start
    from detectkit.faces import FaceRecognizer

    recognizer = FaceRecognizer(None, detector=FaceDetector(device="cpu"), embedder=embedder, device="cpu")
    start = time.perf_counter()
    reports = recognizer.enroll_many({name: [str(p) for p in ps] for name, ps in gallery.items()})
    dk_faces = sum(len(r.used) for r in reports.values())
    dk_time = time.perf_counter() - start
    rows = [["face_recognition loop (dlib-bin: HOG, 5 points, face_encodings)", fr_faces, f"{fr_faces / fr_time:.2f}", "1.0x"],
            ["detectkit FaceRecognizer.enroll_many (MTCNN, quality checks, dlib-resnet torch)", dk_faces, f"{dk_faces / dk_time:.2f}",
             f"{(dk_faces / dk_time) / (fr_faces / fr_time):.1f}x"]]
    print(table([f"enrolling {len(photos)} LFW photos (all faces), default threads", "faces", "faces / s", "ratio"], rows))
    return {"face_recognition_faces_per_s": fr_faces / fr_time, "detectkit_faces_per_s": dk_faces / dk_time}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["extract", "template", "lfw", "gallery", "speed", "enrol", "all"])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/faces_dlib.npz"))
    parser.add_argument("--threshold", type=float, default=None, help="cosine threshold for `gallery` (default: dlib-resnet's)")
    args = parser.parse_args(argv)
    print(f"machine: {machine()}\n")
    if args.what in ("extract", "all"):
        extract(args.cache)
    if args.what in ("template", "all"):
        fit_template(args.cache)
    if args.what == "extract":
        return
    from detectkit.faces.dlib_embedder import DlibResNetEmbedder

    embedder = DlibResNetEmbedder(device="cpu")
    threshold = args.threshold
    if args.what in ("lfw", "all"):
        results = lfw(args.cache, embedder)
        threshold = threshold or results["detectkit MTCNN 5 points + dlib-resnet (torch)"]["best_threshold"]
    if args.what in ("gallery", "all"):
        if threshold is None:
            from detectkit.faces.recognizer import default_threshold

            threshold = default_threshold("dlib-resnet")
        gallery_id(args.cache, embedder, threshold)
    if args.what in ("speed", "all"):
        speed(args.cache, embedder)
    if args.what in ("enrol", "all"):
        enrol(embedder)


if __name__ == "__main__":
    main()
