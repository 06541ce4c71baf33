"""`BuiltinRegistry`: a :class:`~detectkit.registry.Registry` that imports its built-in plugin modules on first lookup.

Some built-in parts of a kind live in a layer *above* the module that owns the kind
(the Haar face detector and the HOG embedder live in ``detectkit.classical``, which
imports ``detectkit.faces``), so the owner cannot import them. They register themselves
when their module is imported; the registry holds the modules' names as strings and
imports them (``importlib``) the first time it is asked for an entry, its names or its
search order. Nothing is imported when the registry is made, so ``import detectkit`` stays light.

Example:
    >>> from detectkit.faces.builtin_registry import BuiltinRegistry
    >>> shapes = BuiltinRegistry("shape", builtins=["json"])  # any importable module
    >>> _ = shapes.register("square", 4)
    >>> shapes.names(), shapes.get("square")
    (['square'], 4)
"""

from __future__ import annotations

import importlib
import threading
from typing import Iterator, Sequence, TypeVar

from ..registry import Registry

__all__ = ["BuiltinRegistry"]

T = TypeVar("T")


class BuiltinRegistry(Registry[T]):
    """A registry whose built-in entries register themselves from ``builtins`` (module names), imported on first lookup."""

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
