"""Run a module's docstring examples as a test: ``from doc_examples import check_docstring_examples``.

A unique module name (``conftest`` is ambiguous when several test folders have one). The faces and
classical packages' doc tests run the same loop and could call this too.

An example that is only a comment (``>>> # detector("photo.jpg")``) runs nothing and passes whatever
the code does, so it fails here: write it as a runnable example, or as a ``Usage:`` block that does
not pretend to be a doctest. A module whose docstrings hold no runnable example fails too (a doc
test with nothing to run cannot fail).
"""

from __future__ import annotations

import doctest
import importlib


def is_comment_only(example: doctest.Example) -> bool:
    """True for an example whose every source line is a comment (it runs nothing).

    >>> [is_comment_only(e) for e in doctest.DocTestParser().get_examples(">>> # f(1)\\n>>> f = 2\\n")]
    [True, False]
    """
    return all(not line.strip() or line.lstrip().startswith("#") for line in example.source.splitlines())


def check_docstring_examples(module_name: str, skip: frozenset[str] = frozenset()) -> None:
    """Run every example in ``module_name``'s docstrings (ELLIPSIS, NORMALIZE_WHITESPACE); fail naming the first that fails.

    Fails as well when an example is a comment only, and when the module (skipped docstrings
    included) has no runnable example at all.

    Args:
        module_name: dotted module name.
        skip: doctest names (``module.function``) to leave out, e.g. for time.
    """
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runnable = 0
    for test in doctest.DocTestFinder().find(module, module_name):
        comments = [e.source.strip() for e in test.examples if is_comment_only(e)]
        assert not comments, f"{test.name}: examples that are only comments never run: {comments}"
        runnable += len(test.examples)
        if not test.examples or test.name in skip:
            continue
        result = runner.run(test, out=lambda text: None)
        assert result.failed == 0, (
            f"{test.name}: {result.failed} of {result.attempted} examples fail "
            f"(python -m pytest --doctest-modules {module_name.replace('.', '/')}.py)"
        )
    assert runnable, f"{module_name}: no docstring example to run (add one that checks a value)"
