"""The DS-CNN keyword spotter of "Hello Edge" (Zhang et al. 2017), sized for an STM32F405.

conv 10x4 stride 2 -> BatchNorm -> ReLU, then ``blocks`` depthwise-separable blocks
(depthwise 3x3 -> BN -> ReLU -> pointwise 1x1 -> BN -> ReLU), global average pooling, dropout,
dense, softmax. The converter folds every BatchNorm into the convolution before it, so the int8
graph is CONV_2D, DEPTHWISE_CONV_2D, MEAN, FULLY_CONNECTED, SOFTMAX.

The first convolution uses "valid" padding: on a 49x40 log-mel input it gives 20x19x64 int8
activations (24,320 bytes), so the largest pair of live tensors is ~48.6 KB, inside a 60 KB arena
("same" would give 25x20x64 = 32,000 bytes and a ~64 KB pair). Weights: ~23 K parameters.
"""
from __future__ import annotations

# Keras' default 0.99 lets the inference statistics lag for several epochs on a few thousand
# clips, so early validation scores (and the best-epoch choice) would be meaningless.
BN_MOMENTUM = 0.9


def build_dscnn(input_shape=(49, 40, 1), n_classes: int = 12, width: int = 64, blocks: int = 4,
                dropout: float = 0.2, first_block_stride: int = 2):
    """A Keras 3 functional DS-CNN. input_shape is (frames, mel bands, 1)."""
    import keras
    from keras import layers

    input_shape = tuple(int(d) for d in input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 1 or min(input_shape) < 1:
        raise ValueError(f"input_shape must be (frames, mel bands, 1), got {input_shape}")
    if input_shape[0] < 10 or input_shape[1] < 4:
        raise ValueError(f"input {input_shape} is smaller than the 10x4 first convolution")
    if n_classes < 2 or width < 1 or blocks < 0:
        raise ValueError(f"need n_classes >= 2, width >= 1, blocks >= 0; got {n_classes}, {width}, {blocks}")

    x_in = keras.Input(shape=input_shape, name="log_mel")
    x = layers.Conv2D(width, (10, 4), strides=(2, 2), padding="valid", use_bias=False, name="conv")(x_in)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name="conv_bn")(x)
    x = layers.ReLU(name="conv_relu")(x)
    for i in range(1, blocks + 1):
        stride = first_block_stride if i == 1 else 1
        x = layers.DepthwiseConv2D((3, 3), strides=stride, padding="same", use_bias=False, name=f"dw{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"dw{i}_bn")(x)
        x = layers.ReLU(name=f"dw{i}_relu")(x)
        x = layers.Conv2D(width, (1, 1), use_bias=False, name=f"pw{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"pw{i}_bn")(x)
        x = layers.ReLU(name=f"pw{i}_relu")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(n_classes, name="fc")(x)
    out = layers.Softmax(name="softmax")(x)
    return keras.Model(x_in, out, name="dscnn")
