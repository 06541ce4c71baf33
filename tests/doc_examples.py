"""Run a module's docstring examples as a test: ``from doc_examples import check_docstring_examples``.

A unique module name (``conftest`` is ambiguous when several test folders have one). The faces and
classical packages' doc tests run the same loop and could call this too.
"""

from __future__ import annotations

import doctest
import importlib


def check_docstring_examples(module_name: str, skip: frozenset[str] = frozenset()) -> None:
    """Run every example in ``module_name``'s docstrings (ELLIPSIS, NORMALIZE_WHITESPACE); fail naming the first that fails.

    Args:
        module_name: dotted module name.
        skip: doctest names (``module.function``) to leave out, e.g. for time.
    """
    module = importlib.import_module(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module, module_name):
        if not test.examples or test.name in skip:
            continue
        result = runner.run(test, out=lambda text: None)
        assert result.failed == 0, (
            f"{test.name}: {result.failed} of {result.attempted} examples fail "
            f"(python -m pytest --doctest-modules {module_name.replace('.', '/')}.py)"
        )
