"""`Registry`: named entries of one kind of part (detector backends, face embedders, dataset formats...).

Every pluggable kind of part in detectkit has one registry. An entry is registered under a
name, optionally with a priority (higher is asked first when a registry is searched for the
entry that claims a spec), and looked up by name or searched in priority order. Registering
is cheap: an entry holds functions that import heavy libraries (torch, ultralytics) only when
they are called, so ``import detectkit`` stays fast.

A package outside detectkit registers the same way as the built-in parts, for example from
its own ``__init__`` (or through the ``detectkit.plugins`` entry-point group, loaded on the
first lookup).

Example:
    >>> from detectkit.registry import Registry
    >>> colours = Registry("colour")
    >>> _ = colours.register("red", (255, 0, 0))
    >>> @colours.register("green", priority=5)
    ... def green():
    ...     return (0, 255, 0)
    >>> colours.names()
    ['green', 'red']
    >>> colours.get("red")
    (255, 0, 0)
    >>> colours.get("blue")
    Traceback (most recent call last):
    ...
    detectkit.errors.ModelError: unknown colour 'blue'; known: green, red
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Sequence, TypeVar, overload

from .errors import ModelError

__all__ = ["Registry", "BuiltinRegistry", "load_plugins", "PLUGIN_GROUP"]

T = TypeVar("T")

PLUGIN_GROUP = "detectkit.plugins"
_plugins_loaded = False
_plugins_lock = threading.Lock()


def load_plugins() -> None:
    """Import every ``detectkit.plugins`` entry point once (each registers its parts on import).

    Example:
        >>> load_plugins()  # no plugin installed: nothing happens
    """
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        from importlib.metadata import entry_points

        for entry in entry_points(group=PLUGIN_GROUP):
            entry.load()


@dataclass(frozen=True)
class _Slot(Generic[T]):
    name: str
    entry: T
    priority: int
    order: int


class Registry(Generic[T]):
    """Entries of one kind of part, by name; searched highest priority first, then oldest first."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._slots: dict[str, _Slot[T]] = {}
        self._lock = threading.Lock()

    @overload
    def register(self, name: str, entry: T, *, priority: int = 0, replace: bool = False) -> T: ...

    @overload
    def register(self, name: str, entry: None = None, *, priority: int = 0, replace: bool = False) -> Callable[[T], T]: ...

    def register(self, name: str, entry: Any = None, *, priority: int = 0, replace: bool = False) -> Any:
        """Add ``entry`` under ``name`` (or use as a decorator). A taken name needs ``replace=True``."""
        if not isinstance(name, str) or not name.strip():
            raise ModelError(f"a {self.kind} needs a non-empty name, got {name!r}")

        def add(value: T) -> T:
            with self._lock:
                if name in self._slots and not replace:
                    raise ModelError(f"a {self.kind} named {name!r} is registered already (pass replace=True)")
                order = self._slots[name].order if name in self._slots else len(self._slots)
                self._slots[name] = _Slot(name, value, priority, order)
            return value

        if entry is None:
            return add
        return add(entry)

    def unregister(self, name: str) -> T:
        """Remove and return the entry registered under ``name``."""
        with self._lock:
            slot = self._slots.pop(name, None)
        if slot is None:
            raise self._unknown(name)
        return slot.entry

    def get(self, name: str) -> T:
        """The entry registered under ``name``; :class:`~detectkit.errors.ModelError` listing the known ones."""
        slot = self._slots.get(name)
        if slot is None:
            load_plugins()
            slot = self._slots.get(name)
        if slot is None:
            raise self._unknown(name)
        return slot.entry

    def names(self) -> list[str]:
        """Registered names, sorted alphabetically."""
        return sorted(self._slots)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs in search order: highest priority first, then registration order."""
        load_plugins()
        slots = sorted(self._slots.values(), key=lambda s: (-s.priority, s.order))
        return [(s.name, s.entry) for s in slots]

    def __iter__(self) -> Iterator[T]:
        return iter([entry for _, entry in self.items()])

    def __contains__(self, name: object) -> bool:
        return name in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"

    def _unknown(self, name: str) -> ModelError:
        known = ", ".join(self.names()) or "none"
        return ModelError(f"unknown {self.kind} {name!r}; known: {known}")


class BuiltinRegistry(Registry[T]):
    """A registry whose built-in entries register themselves from ``builtins`` (module names), imported on first lookup.

    Some built-in parts of a kind live in a layer *above* the module that owns the kind (the
    Haar face detector and the HOG people detector live in ``detectkit.classical``, the OpenVINO
    backend in ``detectkit.runtimes``), so the owner cannot import them. They register themselves
    when their module is imported; the registry holds the modules' names as strings and imports
    them the first time it is asked for an entry, its names or its search order.

    Example:
        >>> shapes = BuiltinRegistry("shape", builtins=["json"])  # any importable module
        >>> _ = shapes.register("square", 4)
        >>> shapes.names(), shapes.get("square")
        (['square'], 4)
    """

    def __init__(self, kind: str, *, builtins: Sequence[str] = ()) -> None:
        super().__init__(kind)
        self.builtins = tuple(builtins)
        self._builtins_loaded = False
        self._loading = False
        self._builtins_lock = threading.RLock()

    def load_builtins(self) -> None:
        """Import every built-in plugin module once (each registers its entries on import).

        Other threads wait until the imports are done; the importing thread itself (a module
        that looks entries up while it registers) passes straight through. A module that
        fails to import raises here, and is tried again on the next lookup.
        """
        if self._builtins_loaded:
            return
        with self._builtins_lock:  # re-entrant: the importing thread may come back here
            if self._builtins_loaded or self._loading:
                return
            self._loading = True
            try:
                for name in self.builtins:
                    importlib.import_module(name)
                self._builtins_loaded = True
            finally:
                self._loading = False

    def get(self, name: str) -> T:
        self.load_builtins()
        return super().get(name)

    def names(self) -> list[str]:
        self.load_builtins()
        return super().names()

    def items(self) -> list[tuple[str, T]]:
        self.load_builtins()
        return super().items()

    def __iter__(self) -> Iterator[T]:
        return iter([entry for _, entry in self.items()])

    def __contains__(self, name: object) -> bool:
        self.load_builtins()
        return super().__contains__(name)

    def __len__(self) -> int:
        self.load_builtins()
        return super().__len__()

    def __repr__(self) -> str:
        return f"BuiltinRegistry({self.kind!r}, {self.names()})"
