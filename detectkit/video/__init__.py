"""Video: sources, the pipeline, tracking, per-track face identity, the annotator, sinks and statistics.

Example:
    >>> from detectkit.video import Pipeline, open_source
    >>> open_source("0").info.kind
    'webcam'
"""

from .annotate import Annotator
from .pipeline import FrameResult, Pipeline
from .sinks import CallbackSink, JsonLinesSink, Sink, VideoWriterSink, WindowSink, make_sink
from .sources import Frame, SourceInfo, VideoSource, open_source
from .stats import PipelineStats

__all__ = [
    "Annotator",
    "Pipeline",
    "FrameResult",
    "Frame",
    "SourceInfo",
    "VideoSource",
    "open_source",
    "Sink",
    "VideoWriterSink",
    "JsonLinesSink",
    "WindowSink",
    "CallbackSink",
    "make_sink",
    "PipelineStats",
]
