"""Readers and writers for the dataset formats: ``yolo``, ``coco``, ``voc`` and ``pennfudan`` (read only).

Each format module has ``sniff(path) -> bool``, ``splits(path) -> list[str]``, ``read(path, split, names=None)``
and ``read_dataset(path, split=None, names=None) -> DetectionDataset`` (validated, problems in ``dataset.report``)
and, if detectkit writes it, a writer; it depends only on the data model (``training.data_model``,
``training.validate``) and ``_common``. ``registry.FORMATS`` holds one entry per format; use
:func:`detectkit.training.datasets.load_dataset` rather than these directly.
"""
