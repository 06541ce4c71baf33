"""Training-side tools: labelled datasets (YOLO txt, COCO json, Pascal VOC xml), fine-tuning, evaluation.

Modules: ``datasets`` (the in-memory form and ``load_dataset``), ``validate`` (problem report),
``formats`` (readers/writers), ``split``, ``convert``, ``synthetic`` (generated shapes data),
``evaluate`` (COCO mAP through pycocotools).
"""
