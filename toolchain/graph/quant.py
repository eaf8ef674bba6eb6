"""Integer quantization maths, written once (mirrors firmware/kernels/mf_quant.h).

The C kernels and the numpy reference both use these exact integer steps; the multipliers
are computed here at generation time the way TFLite computes them, so that results are
bit-exact against the TFLM interpreter.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def quantize_multiplier(real: float) -> tuple[int, int]:
    """real ~= q * 2**(shift - 31) with q a Q31 int32 in [2**30, 2**31). As TFLite's QuantizeMultiplier.

    ``shift`` > 0 means a left shift. Rounding is half away from zero (std::round).
    """
    if real == 0.0:
        return 0, 0
    if not math.isfinite(real):
        raise ValueError(f"rescale factor {real} is not finite; the quantization scales or options are inconsistent")
    frac, shift = math.frexp(real)
    q = int(math.copysign(math.floor(abs(frac) * (1 << 31) + 0.5), frac))
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        shift, q = 0, 0
    if shift > 31:  # a C shift by more than the word is undefined; no sane scale ratio gets here
        raise ValueError(f"rescale factor {real:g} is too large for a Q31 multiplier (shift {shift} > 31); "
                         "the tensors' quantization scales are inconsistent")
    return q, shift


def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vector form of :func:`quantize_multiplier` (per-channel scales)."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, dtype=np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32))


def activation_range(activation: str, scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> tuple[int, int]:
    """Clamp bounds of a fused activation in the quantized domain (TFLite CalculateActivationRangeQuantized)."""

    def q(x: float) -> int:
        # TFLite divides in float32 here (TfLiteRound(f / scale)), not in double. A tiny scale
        # overflows float32: clipped (the result is clamped to [qmin, qmax] below anyway).
        with np.errstate(over="ignore"):
            v = float(np.float32(x) / np.float32(scale))
        return zero_point + int(round_half_away(min(max(v, -(2.0**40)), 2.0**40)))

    if activation in ("none", None):
        return qmin, qmax
    if activation == "relu":
        return max(qmin, q(0.0)), qmax
    if activation == "relu6":
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if activation == "relu_n1_to_1":
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(f"unsupported fused activation {activation!r}")


def round_half_away(x: float) -> float:
    return math.copysign(math.floor(abs(x) + 0.5), x)


# ---- integer steps on numpy int64 arrays (exact for int32 operands) ----

def saturating_rounding_doubling_high_mul(a, b):
    """gemmlowp SaturatingRoundingDoublingHighMul on int32 values held in int64 arrays."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b  # fits: |a*b| <= 2**62
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    num = ab + nudge
    # C integer division truncates toward zero.
    res = np.where(num >= 0, num // (1 << 31), -((-num) // (1 << 31)))
    return np.where(overflow, INT32_MAX, res).astype(np.int64)


def rounding_divide_by_pot(x, exponent):
    """gemmlowp RoundingDivideByPOT: x / 2**exponent rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + np.where(x < 0, 1, 0)
    return (x >> exponent) + np.where(remainder > threshold, 1, 0)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite MultiplyByQuantizedMultiplier (double rounding, as the tflite-micro build uses)."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.where(shift > 0, shift, 0)
    right = np.where(shift > 0, 0, -shift)
    shifted = (x * (np.int64(1) << left)).astype(np.int64)
    # Wrap to int32 as C would (operands are int32 after the shift in TFLite).
    shifted = ((shifted + 2**31) % 2**32) - 2**31
    return rounding_divide_by_pot(saturating_rounding_doubling_high_mul(shifted, multiplier), right)
