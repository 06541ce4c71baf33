"""Training-side tools: labelled datasets (YOLO txt, COCO json, Pascal VOC xml), fine-tuning, evaluation.

Dataset side, bottom up: ``validate`` (problem report and checks), ``data_model`` (Sample,
DetectionDataset), ``formats`` (one module per format, registered in ``formats.registry.FORMATS``),
``split``, ``loading`` (``load_dataset``), ``convert``, ``datasets`` (the public face: re-exports
them all), ``synthetic`` (generated shapes data); ``evaluate`` (COCO mAP through pycocotools).
"""
