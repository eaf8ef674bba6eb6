"""Host-side training: the DS-CNN (dscnn), training (train), int8 conversion and TFLM accuracy
(convert), the end-to-end keyword pipeline (pipeline), and the binary backbone (bnn, bnn_layers)."""

# The BNN's pretraining schedule, shared by 'mcuforge train bnn-kws' and the demo: binary epochs after
# full-precision ones (what it measured: mcuforge.train.bnn's docstring).
BNN_EPOCHS, BNN_FLOAT_EPOCHS = 40, 15


def check_bnn_schedule(epochs: int, batch_size: int, float_epochs: int, distill: float) -> None:
    """The BNN's training settings (without TensorFlow: 'mcuforge train' checks them before loading it)."""
    if epochs < 1 or batch_size < 1 or float_epochs < 0:
        raise ValueError(f"need epochs >= 1, batch_size >= 1, float_epochs >= 0; got {epochs}, {batch_size}, "
                         f"{float_epochs}")
    if not 0.0 <= distill <= 1.0 or (distill > 0 and float_epochs == 0):
        raise ValueError(f"distill must be in [0, 1] and needs a float phase (float_epochs > 0); got distill={distill}, "
                         f"float_epochs={float_epochs}")
