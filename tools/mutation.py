"""Mutation testing for the code where a wrong comparison costs users most (issue 16).

Plants one small bug at a time (a mutant) in a named function, runs that module's tests on a copy
of the repository, and counts the mutant killed when the tests fail (or time out). It reports the
score per module and every survivor (file, line, the change), to be killed by a new test or
explained as equivalent in docs/testing.md.

Mutations (Python's ``ast``, on the functions named in ``TARGETS`` only):

* comparisons: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``in`` <-> ``not in``, ``is`` <-> ``is not``;
* ``and`` <-> ``or``, ``&`` <-> ``|``, ``not x`` -> ``x``;
* integer constants ``n`` -> ``n + 1`` (off by one);
* ``min``/``max``, ``minimum``/``maximum``, ``argmin``/``argmax`` swapped;
* a dropped filter: an augmented assignment (``keep &= ...``, ``count += 1``) removed, a slice
  (``index[: max_det]``) removed.

The repository is copied (tracked and untracked, not ignored, files) into a temporary folder; the
worktree is never written. mutmut 3.8.1 is installed but not used (by design it trampolines the
whole package and first runs the whole suite to map tests to functions: too much for two shared
cores); this script runs a handful of chosen tests per module.

Usage::

    python tools/mutation.py                    # every module in TARGETS
    python tools/mutation.py --module quality   # one (names below), or several
    python tools/mutation.py --list             # the mutants, without running anything

Example:
    >>> source = "def f(x):\\n    return x < 3\\n"
    >>> [m.description for m in mutants_of(source, ("f",))]
    ['line 2: < -> <=', 'line 2: 3 -> 4']
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator, Sequence

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class Target:
    """One module: the file, the functions mutated in it, and the tests that must kill the mutants."""

    name: str
    path: str
    functions: tuple[str, ...]  # function names, or Class.method
    tests: tuple[str, ...]  # pytest arguments (files, node ids, -k expressions)


# The one list of what is mutated (update paths here when modules move, e.g. after a merge).
TARGETS: tuple[Target, ...] = (
    Target("postprocess", "detectkit/detection/postprocess.py", ("post_filter", "strict_threshold"),
           ("tests/core/test_postprocess.py", "tests/core/test_threshold_edges.py", "-k", "not torchvision_backend")),
    Target("ultralytics-backend", "detectkit/detection/ultralytics_backend.py", ("UltralyticsBackend.predict",),
           ("tests/core/test_backend_sizes.py", "tests/core/test_threshold_semantics.py", "-k", "ultralytics or yolo")),
    Target("torchvision-backend", "detectkit/detection/torchvision_backend.py", ("TorchvisionBackend._apply",),
           ("tests/core/test_backend_sizes.py", "tests/core/test_threshold_semantics.py", "-k", "torchvision or ssd")),
    Target("onnx-backend", "detectkit/detection/onnx_backend.py", ("OnnxTorchvisionBackend._detections",),
           ("tests/core/test_threshold_semantics.py", "-k", "onnx")),
    Target("quality", "detectkit/faces/quality.py", ("assess",), ("tests/faces/test_gates.py",)),
    Target("recognizer-match", "detectkit/faces/recognizer.py", ("FaceRecognizer.match", "FaceRecognizer.verify"),
           ("tests/faces/test_gates.py",)),
    Target("gallery-search", "detectkit/faces/gallery.py", ("Gallery.search_arrays", "Gallery.search"),
           ("tests/faces/test_gates.py", "tests/faces/test_faces_gallery.py", "-k", "search or gates or cosine")),
    Target("live-dropping", "detectkit/video/sources.py", ("FrameBuffer.put", "FrameBuffer.get"),
           ("tests/video/test_live_dropping.py", "tests/video/test_video_sources.py", "-k", "buffer or dropping")),
    Target("yolo-reader", "detectkit/training/formats/yolo.py", ("parse_label_file", "_is_float"),
           ("tests/training/test_reader_edges.py", "tests/training/test_data_formats.py",
            "tests/training/test_data_validation.py")),
    Target("coco-reader", "detectkit/training/formats/coco.py", ("read", "_categories"),
           ("tests/training/test_reader_edges.py", "tests/training/test_data_formats.py",
            "tests/training/test_data_validation.py")),
    Target("voc-reader", "detectkit/training/formats/voc.py", ("_parse",),
           ("tests/training/test_reader_edges.py", "tests/training/test_data_formats.py",
            "tests/training/test_data_validation.py")),
)

_COMPARE_SWAPS = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
           ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_NAME_SWAPS = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum", "argmin": "argmax", "argmax": "argmin"}


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One planted change: which node (by its place in ``ast.walk`` order) and what it becomes."""

    node_index: int
    variant: int
    line: int
    description: str


def _function_nodes(tree: ast.Module, names: Sequence[str]) -> list[ast.AST]:
    found: list[ast.AST] = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            found.append(node)
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and f"{node.name}.{item.name}" in names:
                    found.append(item)
    missing = set(names) - {getattr(n, "name", "") for n in found} - {
        f"{c.name}.{i.name}" for c in tree.body if isinstance(c, ast.ClassDef) for i in c.body if hasattr(i, "name")
    }
    if missing:
        raise SystemExit(f"functions not found: {sorted(missing)} (update TARGETS in {__file__})")
    return found


def _docstring_ids(function: ast.AST) -> set[int]:
    body = getattr(function, "body", [])
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        return {id(body[0].value)}
    return set()


def _variants(node: ast.AST) -> list[str]:
    """Descriptions of the mutants one node allows (empty: none)."""
    out: list[str] = []
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) in _COMPARE_SWAPS:
                out.append(f"{_SYMBOL[type(op)]} -> {_SYMBOL[_COMPARE_SWAPS[type(op)]]}")
    elif isinstance(node, ast.BoolOp):
        out.append("and -> or" if isinstance(node.op, ast.And) else "or -> and")
    elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
        out.append("& -> |" if isinstance(node.op, ast.BitAnd) else "| -> &")
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append("not x -> x")
    elif isinstance(node, ast.Constant) and type(node.value) is int:
        out.append(f"{node.value} -> {node.value + 1}")
    elif isinstance(node, ast.Call):
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if name in _NAME_SWAPS:
            out.append(f"{name}() -> {_NAME_SWAPS[name]}()")
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        out.append("x[slice] -> x (slice dropped)")
    if isinstance(node, ast.AugAssign):
        out.append("augmented assignment dropped")
    return out


def _sites(tree: ast.Module, functions: Sequence[str]) -> Iterator[tuple[int, ast.AST]]:
    inside: set[int] = set()
    skip: set[int] = set()
    for function in _function_nodes(tree, functions):
        skip |= _docstring_ids(function)
        annotations = [function.returns] + [a.annotation for a in ast.walk(function.args) if isinstance(a, ast.arg)]
        annotations += [a.annotation for a in ast.walk(function) if isinstance(a, ast.AnnAssign)]  # ``size: T | None = ...``
        skip |= {id(n) for a in annotations if a is not None for n in ast.walk(a)}  # not run (postponed annotations)
        for node in ast.walk(function):
            inside.add(id(node))
            if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                skip.add(id(node.operand))  # reshape(-1), [-1]: numpy takes any negative size as "the rest"
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in inside and id(node) not in skip:
            yield index, node


def mutants_of(source: str, functions: Sequence[str]) -> list[Mutant]:
    """Every mutant of ``functions`` in ``source`` (see the module docstring)."""
    tree = ast.parse(source)
    found = []
    for index, node in _sites(tree, functions):
        for variant, text in enumerate(_variants(node)):
            found.append(Mutant(index, variant, getattr(node, "lineno", 0), f"line {getattr(node, 'lineno', 0)}: {text}"))
    return sorted(found, key=lambda m: (m.line, m.node_index, m.variant))


class _Apply(ast.NodeTransformer):
    def __init__(self, mutant: Mutant, nodes: dict[int, int]) -> None:
        self.mutant, self.nodes = mutant, nodes

    def visit(self, node: ast.AST) -> ast.AST | None:
        if self.nodes.get(id(node)) != self.mutant.node_index:
            return self.generic_visit(node)
        description = self.mutant.description.split(": ", 1)[1]
        if description == "augmented assignment dropped":
            return ast.Pass()
        if isinstance(node, ast.Compare):
            swappable = [i for i, op in enumerate(node.ops) if type(op) in _COMPARE_SWAPS]
            i = swappable[self.mutant.variant]
            node.ops[i] = _COMPARE_SWAPS[type(node.ops[i])]()
        elif isinstance(node, ast.BoolOp):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and isinstance(node.op, (ast.BitAnd, ast.BitOr)):
            node.op = ast.BitOr() if isinstance(node.op, ast.BitAnd) else ast.BitAnd()
        elif isinstance(node, ast.UnaryOp):
            return node.operand
        elif isinstance(node, ast.Constant):
            node.value = node.value + 1
        elif isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                node.func.id = _NAME_SWAPS[node.func.id]
            else:
                node.func.attr = _NAME_SWAPS[node.func.attr]
        elif isinstance(node, ast.Subscript):
            return node.value
        return node


def mutate(source: str, mutant: Mutant) -> str:
    """``source`` with ``mutant`` planted (unparsed by ``ast``: comments go, the meaning stays)."""
    tree = ast.parse(source)
    nodes = {id(node): index for index, node in enumerate(ast.walk(tree))}
    tree = _Apply(mutant, nodes).visit(tree)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree) + "\n"


def _copy_repo(into: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


PRELOAD = ("numpy", "torch", "torchvision", "cv2", "PIL.Image", "skimage.data", "onnxruntime", "pytest", "yaml")
"""Heavy libraries imported once by the parent, so each forked test run skips importing them (detectkit
itself is never imported by the parent: each child imports the mutated copy)."""


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _run_tests(copy_root: Path, tests: Sequence[str], timeout: float) -> tuple[bool, float]:
    """(passed, seconds) for the tests on the copy, in a forked child of this process (a fresh
    ``python -m pytest`` would re-import torch each time: 30-40 s a mutant on two loaded cores);
    a timeout counts as failed."""
    args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *tests]
    started = time.perf_counter()
    if not hasattr(os, "fork"):  # pragma: no cover - Windows: a subprocess per run
        env = dict(os.environ, PYTHONPATH=str(copy_root), PYTHONDONTWRITEBYTECODE="1")
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", *args], cwd=copy_root, env=env,
                                  capture_output=True, timeout=timeout)
            return done.returncode == 0, time.perf_counter() - started
        except subprocess.TimeoutExpired:
            return False, time.perf_counter() - started
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:  # the child: run pytest on the copy, quietly, and exit with its code
        code = 3
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            os.chdir(copy_root)
            sys.path.insert(0, str(copy_root))
            sys.dont_write_bytecode = True
            os.environ["PYTHONPATH"] = str(copy_root)
            import pytest

            code = int(pytest.main(args))
        finally:
            os._exit(code)
    deadline = started + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) == 0, time.perf_counter() - started
        if time.perf_counter() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            return False, time.perf_counter() - started
        time.sleep(0.05)


def run_target(target: Target, copy_root: Path, *, log=print) -> dict:
    """Baseline, then every mutant of one target; returns the figures and the survivors."""
    path = copy_root / target.path
    original = path.read_text()
    mutants = mutants_of(original, target.functions)
    passed, baseline = _run_tests(copy_root, target.tests, timeout=1800)
    if not passed:
        raise SystemExit(f"{target.name}: the tests fail without any mutant: {' '.join(target.tests)}")
    timeout = max(20.0, 3 * baseline)  # a mutant that makes a wait loop spin is killed by the clock
    survivors, started = [], time.perf_counter()
    try:
        for n, mutant in enumerate(mutants, 1):
            path.write_text(mutate(original, mutant))
            survived, seconds = _run_tests(copy_root, target.tests, timeout)
            log(f"  [{n}/{len(mutants)}] {target.path} {mutant.description}: {'SURVIVED' if survived else 'killed'} ({seconds:.0f} s)")
            if survived:
                survivors.append(mutant.description)
    finally:
        path.write_text(original)
    killed = len(mutants) - len(survivors)
    return {"module": target.name, "path": target.path, "mutants": len(mutants), "killed": killed,
            "score": killed / len(mutants) if mutants else 1.0, "survivors": survivors,
            "baseline_s": baseline, "seconds": time.perf_counter() - started}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", help="only these TARGETS names (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args(argv)
    known = {t.name: t for t in TARGETS}
    unknown = set(args.module or ()) - set(known)
    if unknown:
        parser.error(f"unknown module(s) {sorted(unknown)}; known: {', '.join(known)}")
    targets = [known[name] for name in args.module] if args.module else list(TARGETS)
    if args.list:
        for target in targets:
            for mutant in mutants_of((REPO / target.path).read_text(), target.functions):
                print(f"{target.name}\t{target.path}\t{mutant.description}")
        return 0
    os.environ.setdefault("DETECTKIT_SHARED", str(REPO.parent / "shared"))
    _preload()
    results = []
    with tempfile.TemporaryDirectory(prefix="detectkit-mutation-") as tmp:
        copy_root = Path(tmp) / "repo"
        _copy_repo(copy_root)
        for target in targets:
            print(f"{target.name}: {' '.join(target.tests)}", flush=True)
            results.append(run_target(target, copy_root, log=lambda line: print(line, flush=True)))
    print(f"\n{'module':22} {'mutants':>7} {'killed':>6} {'score':>6} {'minutes':>7}")
    for r in results:
        print(f"{r['module']:22} {r['mutants']:7d} {r['killed']:6d} {r['score']:6.0%} {r['seconds'] / 60:7.1f}")
    total, killed = sum(r["mutants"] for r in results), sum(r["killed"] for r in results)
    print(f"{'all':22} {total:7d} {killed:6d} {killed / max(total, 1):6.0%} {sum(r['seconds'] for r in results) / 60:7.1f}")
    for r in results:
        for survivor in r["survivors"]:
            print(f"survivor: {r['path']} {survivor}")
    return 0 if all(r["score"] >= 0.9 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
