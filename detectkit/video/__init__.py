"""Video: sources, the pipeline, the annotator and sinks."""
