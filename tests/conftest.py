"""Fixtures shared by the whole suite.

Tests never touch the network or the user's caches: downloads are off
(``DETECTKIT_OFFLINE=1``), detectkit's weights cache and ultralytics' settings live
in a temporary folder, and matplotlib draws off-screen.

Data from ``../shared`` (beside the repository) is used where present; tests that need
it skip with a reason when it is absent.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Iterator

_session_tmp = Path(tempfile.mkdtemp(prefix="detectkit-tests-"))
atexit.register(shutil.rmtree, _session_tmp, True)  # its caches (converted models) go with the session
os.environ["DETECTKIT_OFFLINE"] = "1"
os.environ["DETECTKIT_CACHE"] = str(_session_tmp / "cache")
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(_session_tmp / "ultralytics"))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.pop("DETECTKIT_WEIGHTS", None)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from shared_data import REPO, SHARED, SHARED_ONNX, need_shared  # noqa: E402,F401


@pytest.fixture(autouse=True)
def _torch_threads_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves torch's thread count changed (no test and no library call may).

    ultralytics' ``select_device`` sets it process-wide (cpu_count - 1): a call outside
    ``keep_torch_threads()`` made every later test in the session run on other threads. Checked
    only when torch is imported before the test starts; the count is restored either way.
    """
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    yield
    if torch is None or before is None:
        return
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(
            f"{request.node.nodeid} left torch's thread count at {after} (it was {before}); "
            "wrap ultralytics calls in detectkit._ultralytics_env.keep_torch_threads()",
            pytrace=False,
        )


@pytest.fixture(autouse=True)
def _sigint_unchanged(request: pytest.FixtureRequest) -> Iterator[None]:
    """Put Ctrl-C's handling back as it was when a test (or a library it calls) changed it, and say so.

    A process that leaves SIGINT ignored or blocked hands that to every child it starts: a child then
    cannot be interrupted (seen once in a full run: tests/video/test_video_interrupt.py's child ran
    to the end through its SIGINT). Restored, not failed, since the changer may be a library."""
    import signal
    import warnings

    handler = signal.getsignal(signal.SIGINT)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    yield
    changed = []
    if signal.getsignal(signal.SIGINT) is not handler:
        changed.append(f"SIGINT handler {signal.getsignal(signal.SIGINT)!r} (was {handler!r})")
        signal.signal(signal.SIGINT, handler if handler is not None else signal.SIG_DFL)
    if signal.pthread_sigmask(signal.SIG_BLOCK, []) != blocked:
        changed.append(f"blocked signals {sorted(signal.pthread_sigmask(signal.SIG_BLOCK, []))} (were {sorted(blocked)})")
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    if changed:
        warnings.warn(f"{request.node.nodeid} changed {'; '.join(changed)}: restored", stacklevel=1)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return need_shared("")


@pytest.fixture(scope="session")
def coco_onnx() -> Path:
    """The real COCO-trained YOLOv8n (int8 ONNX) from ../shared/weights."""
    return need_shared("weights/yolov8n_int8.onnx")


@pytest.fixture(scope="session")
def yolo_onnx_detector(coco_onnx: Path):
    from detectkit import Detector

    return Detector(coco_onnx, device="cpu")


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    """scikit-image's astronaut (a person, a face) as BGR uint8."""
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.coffee()[:, :, ::-1])


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.chelsea()[:, :, ::-1])
