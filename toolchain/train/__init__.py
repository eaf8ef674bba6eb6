"""Host-side training: the DS-CNN (dscnn), training (train), int8 conversion and TFLM accuracy
(convert), and the end-to-end keyword pipeline (pipeline)."""
