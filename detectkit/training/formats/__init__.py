"""Readers and writers for the dataset formats: ``yolo``, ``coco``, ``voc`` and ``pennfudan`` (read only).

Each reader module has ``splits(path) -> list[str]`` and ``read(path, split, names=None) -> DetectionDataset``
(validated, problems in ``dataset.report``); use :func:`detectkit.training.datasets.load_dataset` rather
than these directly.
"""
