"""Host-side training: the DS-CNN (dscnn), training (train), int8 conversion and TFLM accuracy
(convert), the end-to-end keyword pipeline (pipeline), and the binary backbone (bnn, bnn_layers)."""

# The BNN's pretraining schedule, shared by 'mcuforge train bnn-kws' and the demo: binary epochs after
# full-precision ones. On the espeak-ng set 10 + 20 gave 68.6 % test accuracy, 15 + 40 gave 79.1 %.
BNN_EPOCHS, BNN_FLOAT_EPOCHS = 40, 15
