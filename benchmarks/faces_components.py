"""Where face-model time goes: torch threads, memory layout, batch-norm folding, ONNX Runtime.

Side by side in one process, best of ``--repeat`` runs each (ms):

* an InceptionResnetV1 pass over 8 crops with 1 and with 2 torch threads;
* MTCNN's P-, R- and O-nets on typical batches (P-net: 32 pyramid levels of 150x150;
  R-net: 2000 crops of 24x24; O-net: 300 crops of 48x48) in the library's NCHW layout and
  channels-last, as detectkit runs them;
* FaceNet per face in batches of 16: facenet-pytorch's module, with batch norms folded
  (detectkit), folded + channels-last (detectkit's default), and through ONNX Runtime when
  installed (not used by detectkit; a measured option).

Run:  python benchmarks/faces_components.py [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, table  # noqa: E402


def best(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads for the layout/folding rows (default 1)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch
    from facenet_pytorch import InceptionResnetV1
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    from detectkit.faces.embedder import _fuse_for_inference

    print(f"# face model components, {machine()}")
    torch.manual_seed(0)
    plain = InceptionResnetV1(pretrained=None, classify=False).eval()
    rows = []
    crops8 = torch.randn(8, 3, 160, 160)
    with torch.inference_mode():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            rows.append([f"InceptionResnetV1, 8 crops, {threads} torch thread(s)", f"{best(lambda: plain(crops8), args.repeat):.0f}", ""])
        torch.set_num_threads(args.threads)
        cl = torch.channels_last
        for name, net, x in (
            ("P-net, 32 x 150x150", PNet(), torch.randn(32, 3, 150, 150) * 100),
            ("R-net, 2000 x 24x24", RNet(), torch.randn(2000, 3, 24, 24) * 100),
            ("O-net, 300 x 48x48", ONet(), torch.randn(300, 3, 48, 48) * 100),
        ):
            net = net.eval()
            last = copy.deepcopy(net).to(memory_format=cl)
            xl = x.contiguous(memory_format=cl)
            a, b = best(lambda: net(x), args.repeat), best(lambda: last(xl), args.repeat)
            rows.append([f"MTCNN {name}: NCHW / channels-last ({args.threads} thread)", f"{a:.0f} / {b:.0f}", f"{a / b:.2f}x"])
        crops = torch.randn(16, 3, 160, 160)
        folded = _fuse_for_inference(copy.deepcopy(plain))
        folded_cl = copy.deepcopy(folded).to(memory_format=cl)
        base = best(lambda: plain(crops), args.repeat) / 16
        rows.append([f"FaceNet per face, batch 16: facenet-pytorch module ({args.threads} thread)", f"{base:.1f}", "1.00x"])
        t = best(lambda: folded(crops), args.repeat) / 16
        rows.append(["  batch norms folded", f"{t:.1f}", f"{base / t:.2f}x"])
        t = best(lambda: folded_cl(crops.contiguous(memory_format=cl)), args.repeat) / 16
        rows.append(["  folded + channels-last (detectkit)", f"{t:.1f}", f"{base / t:.2f}x"])
        try:
            import onnxruntime as ort
        except ImportError:
            ort = None
        if ort is not None:
            buffer = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                started = time.perf_counter()
                torch.onnx.export(folded, crops[:1], buffer, input_names=["x"], output_names=["y"],
                                  dynamic_axes={"x": {0: "batch"}}, dynamo=False)
                export_s = time.perf_counter() - started
            options = ort.SessionOptions()
            options.intra_op_num_threads = args.threads
            options.inter_op_num_threads = 1
            session = ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
            feed = {"x": crops.numpy()}
            t = best(lambda: session.run(None, feed), args.repeat) / 16
            diff = float(np.abs(session.run(None, feed)[0] - folded(crops).numpy()).max())
            rows.append([f"  ONNX Runtime (export {export_s:.1f} s; max |diff| {diff:.1e})", f"{t:.1f}", f"{base / t:.2f}x"])
    print(table(["what", "ms", "speed-up"], rows))


if __name__ == "__main__":
    main()
