"""Deep learning vs classical computer vision, measured on the same data (``detectkit compare``).

Modules: :mod:`.data` (the data sets and their ground truth), :mod:`.tasks` (runs each
pair), :mod:`.report` (rows, machine and versions, Markdown, bar chart).

Example:
    >>> from detectkit.compare import CompareConfig
    >>> CompareConfig(shared="shared", tasks=["face identification"]).limit is None
    True
"""

from __future__ import annotations

from .report import ComparisonReport, Row, environment
from .tasks import ALL_TASKS, CompareConfig, run_comparison

__all__ = ["ALL_TASKS", "CompareConfig", "ComparisonReport", "Row", "environment", "run_comparison"]
