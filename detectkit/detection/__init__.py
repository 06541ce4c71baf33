"""Object detection: the :class:`Detector` facade, the backend registry and one module per backend."""

from .base import PredictOptions
from .detector import DEFAULT_MODEL, Detector, load_backend
from .registry import BACKENDS, family_of, find_backend, register_backend

__all__ = ["Detector", "PredictOptions", "load_backend", "DEFAULT_MODEL", "BACKENDS", "register_backend", "find_backend", "family_of"]
