"""Binary layers in plain Keras 3 whose forward pass is exactly what the device computes.

Semantics (the contract with the folder in ``mcuforge.model.keras_bnn`` and the C kernels):

Binarization, ONE rule for activations and weights:  b(x) = +1 if x > 0 else -1.
  So b(0) = -1 (and b(NaN) = -1). Packed on the device as bit = 1 for +1, bit = 0 for -1, i.e.
  bit = (x > 0). Weights: bit = (latent_kernel > 0).

Why "> 0" and not ">= 0": every binary layer's input is ReLU(BN(acc)) of the conv before it, which
  is >= 0 everywhere; with b(0) = +1 every activation would be +1. With "> 0",
  b(ReLU(BN(acc))) = +1 exactly when BN(acc) > 0 (strictly), the ReLU itself changes nothing, and
  the device folds BatchNorm + ReLU + b into an integer test on the accumulator:
      BN(acc) = gamma * (acc - mean) / sqrt(var + eps) + beta > 0
      gamma > 0:  acc >  t   with t = mean - beta * sqrt(var + eps) / gamma  ->  acc >= floor(t) + 1
      gamma < 0:  acc <  t                                                   ->  acc <= ceil(t) - 1 (flip)
      gamma == 0: constant bit (beta > 0).
  (The first conv's acc is in its int8 domain, so the folder scales t by the input and weight
  scales; Keras evaluates BN in float32, so a value within float rounding of t may differ.)

Gradient (straight-through estimator): d b(x) / dx = 1 where |x| <= 1, else 0.

BinaryConv2D(filters, kernel_size, strides, padding): input -> b, latent float kernel -> b (kernel
  kept in [-1, 1] by ClipConstraint), no bias, no scaling factor (the BatchNorm after it scales).
  Output = the integer dot product  sum over (kh, kw, c) of b(x) * b(w)  as float32, which equals
  the device's  C*KH*KW - 2 * popcount(x XOR w)  exactly (integers below 2^24 are exact in float32).
BinaryInputConv2D(filters, ...): the LAST conv: input -> b, full-precision float kernel, no bias.
  Output = sum of w * (+-1). The device quantizes the kernel to int8 per channel and folds BN + ReLU
  into y = max(0, a_c * acc_c + b_c).
Padding "same" pads the BINARIZED input with -1 (bit 0), never 0: a binary device has no 0. Pads
  are TensorFlow's split: total = max((ceil(n / s) - 1) * s + k - n, 0) per spatial axis, with
  total // 2 before (top/left) and the rest after (bottom/right). "valid" pads nothing.
Kernel layout: [KH, KW, C_in, C_out] (Keras); the device packs it as [O, KH, KW, ceil(C/32)].
"""
from __future__ import annotations

import math

import keras
from keras import ops

PACKAGE = "mcuforge"
PAD_VALUE = -1.0  # what "same" padding inserts into a binarized input (bit 0)


def binarize(x):
    """Forward only: +1 where x > 0, else -1 (same dtype as x)."""
    x = ops.convert_to_tensor(x)
    return ops.where(x > 0, ops.ones_like(x), -ops.ones_like(x))


@keras.saving.register_keras_serializable(package=PACKAGE)
def sign_ste(x):
    """b(x) = +1 if x > 0 else -1, gradient 1 where |x| <= 1 else 0 (straight-through estimator).

    Written as stop_gradient(b(x)) + (clip(x) - stop_gradient(clip(x))): the second term is exactly 0
    in the forward pass (a - a == 0 in floating point), so the output is exactly +-1, and its
    gradient is clip's: 1 inside [-1, 1] (boundaries included), 0 outside.
    """
    x = ops.convert_to_tensor(x)
    c = ops.clip(x, -1.0, 1.0)
    return ops.stop_gradient(binarize(x)) + (c - ops.stop_gradient(c))


@keras.saving.register_keras_serializable(package=PACKAGE)
class ClipConstraint(keras.constraints.Constraint):
    """Keeps latent binary weights in [-limit, limit] so the STE keeps passing their gradient."""

    def __init__(self, limit: float = 1.0):
        if not limit > 0:
            raise ValueError(f"ClipConstraint limit must be > 0, got {limit}")
        self.limit = float(limit)

    def __call__(self, w):
        return ops.clip(w, -self.limit, self.limit)

    def get_config(self):
        return {"limit": self.limit}


@keras.saving.register_keras_serializable(package=PACKAGE)
class SteReLU(keras.layers.Layer):
    """ReLU in the forward pass (identical to keras.layers.ReLU); straight-through gradient
    (1 where |x| <= 1) in the backward pass.

    Used in front of a binary layer: b(ReLU(y)) == b(y) in the forward pass, but a plain ReLU's
    gradient is 0 for every y < 0, so a unit at -1 would get no signal to become +1. With this
    layer the pair ReLU -> b has the usual BNN gradient 1[|y| <= 1].
    """

    def call(self, x):
        x = ops.convert_to_tensor(x)
        c = ops.clip(x, -1.0, 1.0)
        return ops.stop_gradient(ops.relu(x)) + (c - ops.stop_gradient(c))

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class ZeroMeanKernel(keras.constraints.Constraint):
    """Each output channel's kernel sums to 0 (mean over KH, KW, C_in removed after every update).

    On the first conv with "valid" padding this makes its output blind to a constant added to
    the log-mel input, i.e. to the recording level: a binary network can't learn level
    invariance from 1-bit activations as a float one can.
    """

    def __call__(self, w):
        return w - ops.mean(w, axis=(0, 1, 2), keepdims=True)

    def get_config(self):
        return {}


def _pair(v, name: str) -> tuple[int, int]:
    t = (v, v) if isinstance(v, int) else tuple(v)
    if len(t) != 2 or not all(isinstance(i, int) and i >= 1 for i in t):
        raise ValueError(f"{name} must be a positive int or a pair of positive ints, got {v!r}")
    return t


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """(before, after) padding of one spatial axis for "same" (TensorFlow's split)."""
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


class _BinaryInputConv(keras.layers.Layer):
    """Conv over a binarized NHWC input, -1 padding; the subclass says whether the kernel is binary."""

    binary_kernel = False

    def __init__(self, filters: int, kernel_size=3, strides=1, padding: str = "same", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(filters, int) or filters < 1:
            raise ValueError(f"filters must be a positive int, got {filters!r}")
        padding = str(padding).lower()
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")
        self.filters = filters
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.strides = _pair(strides, "strides")
        self.padding = padding
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def _kernel_args(self) -> dict:
        return {}

    def build(self, input_shape):
        c = input_shape[-1]
        if c is None:
            raise ValueError(f"{self.name}: the channel dimension of the input must be known")
        self.kernel = self.add_weight(name="kernel", shape=(*self.kernel_size, int(c), self.filters),
                                      **self._kernel_args())

    def pads(self, h: int, w: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) padding for an h x w input."""
        if self.padding == "valid":
            return (0, 0), (0, 0)
        return (same_pads(h, self.kernel_size[0], self.strides[0]),
                same_pads(w, self.kernel_size[1], self.strides[1]))

    def effective_kernel(self):
        """The kernel the forward pass uses: b(latent) for a binary kernel, else the float kernel."""
        return binarize(self.kernel) if self.binary_kernel else ops.convert_to_tensor(self.kernel)

    def call(self, x):
        xb = sign_ste(x)
        if self.padding == "same":
            (t, b), (left, r) = self.pads(x.shape[1], x.shape[2])
            if t or b or left or r:
                xb = ops.pad(xb, [[0, 0], [t, b], [left, r], [0, 0]], constant_values=PAD_VALUE)
        k = sign_ste(self.kernel) if self.binary_kernel else self.kernel
        return ops.conv(xb, k, strides=self.strides, padding="valid")

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = []
        for size, k, s in zip((h, w), self.kernel_size, self.strides):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(math.ceil(size / s))
            else:
                out.append((size - k) // s + 1)
        return (n, out[0], out[1], self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BinaryConv2D(_BinaryInputConv):
    """Binary input, binary weights (latent float kernel clipped to [-1, 1]), no bias."""

    binary_kernel = True

    def _kernel_args(self) -> dict:
        # Small latent weights (Glorot, |w| < ~0.1): a sign flip takes tens of Adam steps, not
        # hundreds, which matters for a few-epoch training.
        return {"initializer": "glorot_uniform", "constraint": ClipConstraint(1.0)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BinaryInputConv2D(_BinaryInputConv):
    """Binary input, full-precision float kernel, no bias: the last conv of the backbone."""

    binary_kernel = False

    def _kernel_args(self) -> dict:
        return {"initializer": "glorot_uniform"}
