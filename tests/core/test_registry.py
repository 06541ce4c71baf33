"""The generic registry every pluggable kind of part uses."""

import pytest

from detectkit.errors import DetectKitError, ModelError
from detectkit.registry import Registry


def test_search_order_is_priority_then_registration_order():
    reg: Registry[str] = Registry("thing")
    reg.register("low", "a")
    reg.register("high", "b", priority=10)
    reg.register("low2", "c")
    assert [name for name, _ in reg.items()] == ["high", "low", "low2"]
    assert list(reg) == ["b", "a", "c"]


def test_taken_name_needs_replace_and_keeps_its_place():
    reg: Registry[int] = Registry("thing")
    reg.register("one", 1)
    reg.register("two", 2)
    with pytest.raises(ModelError, match="registered already"):
        reg.register("one", 3)
    reg.register("one", 3, replace=True)
    assert reg.get("one") == 3
    assert [name for name, _ in reg.items()] == ["one", "two"]


def test_unknown_name_is_a_detectkit_error_listing_the_known_ones():
    reg: Registry[int] = Registry("widget")
    reg.register("b", 1)
    reg.register("a", 2)
    with pytest.raises(DetectKitError, match=r"unknown widget 'c'; known: a, b"):
        reg.get("c")
    assert reg.unregister("a") == 2
    assert "a" not in reg and len(reg) == 1


def test_empty_name_refused():
    with pytest.raises(ModelError):
        Registry("thing").register("  ", 1)
