"""Host-side training: the DS-CNN (dscnn), training (train), int8 conversion and TFLM accuracy
(convert), the end-to-end keyword pipeline (pipeline), and the binary backbone (bnn, bnn_layers)."""

# The BNN's pretraining schedule, shared by 'mcuforge train bnn-kws' and the demo: binary epochs after
# full-precision ones (what it measured: mcuforge.train.bnn's docstring).
BNN_EPOCHS, BNN_FLOAT_EPOCHS = 40, 15
