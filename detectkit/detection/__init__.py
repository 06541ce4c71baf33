"""Object detection: the :class:`Detector` facade and one module per backend."""

from .base import PredictOptions
from .detector import DEFAULT_MODEL, Detector, load_backend

__all__ = ["Detector", "PredictOptions", "load_backend", "DEFAULT_MODEL"]
