"""Mean over axes, int8 (TFLM reduce.cc MEAN; Keras GlobalAveragePooling2D is MEAN over 1, 2).

Neutral attrs (front end): ``axes`` (input axes; negative ones are counted from the end),
``keepdims``. Inputs beyond the first (an axes tensor) are ignored.

``prepare`` adds ``in_dims`` (input shape padded to 4-D at the front), ``reduce`` (4 flags),
``count`` (elements averaged per output), ``in_zp``, ``out_zp``, ``multiplier``, ``shift``.

Each output is (sum - in_zp * count) times in_scale / (out_scale * count) + out_zp, clamped,
with 1/count folded into the Q31 multiplier exactly as TFLM's QuantizedMeanOrSum does. TFLM
takes this path even when input and output quantization are equal (older TFLM releases used
a truncating sum / count there; the tflite-micro package this project validates against
does not, checked bit-exactly in tests/test_kernels_misc_tflm.py).
"""
from __future__ import annotations

import numpy as np

from ..graph.ir import Graph, Op
from ..graph.quant import multiply_by_quantized_multiplier, quantize_multiplier
from ._checks import ensure_prepared, per_tensor, require_dtype, tensor_in, tensor_out
from ._cparams import params_struct

KIND = "mean"
TFLITE = ("MEAN",)
INPUTS = ("input", "axes?")  # operand roles; '?' marks an optional one


def fold_count(multiplier: int, shift: int, count: int) -> tuple[int, int]:
    """Divide a Q31 multiplier by ``count`` keeping precision (TFLite QuantizedMeanOrSum)."""
    s = min(count.bit_length() - 1, 32, 31 + shift)  # floor(log2(count)), clamped as TFLite does
    return int((multiplier << s) // count), shift - s


def _axes(op: Op, graph: Graph, rank: int) -> tuple[int, ...]:
    axes = op.attrs.get("axes")
    if axes is None and len(op.inputs) > 1 and graph.tensor(op.inputs[1]).is_const:
        axes = graph.tensor(op.inputs[1]).data  # a raw graph that still carries the axes tensor
    if axes is None:
        raise ValueError("mean needs the 'axes' attr")
    out = []
    for a in np.atleast_1d(np.asarray(axes)).tolist():
        if not -rank <= int(a) < rank:
            raise ValueError(f"mean axis {a} is out of range for a {rank}-D input")
        if int(a) % rank not in out:
            out.append(int(a) % rank)
    return tuple(sorted(out))


def prepare(op: Op, graph: Graph) -> None:
    x, y = tensor_in(op, graph), tensor_out(op, graph)
    require_dtype(x, "int8", "input")
    require_dtype(y, "int8", "output")
    rank = len(x.shape)
    if not 1 <= rank <= 4:
        raise ValueError(f"mean supports 1-D to 4-D inputs, got {x.shape}")
    axes = _axes(op, graph, rank)
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
    if int(np.prod(kept)) != y.size:
        raise ValueError(f"output shape {y.shape} does not match mean of {x.shape} over axes {axes}")
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    if count < 1:
        raise ValueError(f"mean over an empty axis of {x.shape}")
    in_s, in_zp = per_tensor(x, "input")
    out_s, out_zp = per_tensor(y, "output")
    pad = 4 - rank
    attrs = dict(
        axes=axes,
        in_dims=(1,) * pad + tuple(int(d) for d in x.shape),
        reduce=(0,) * pad + tuple(int(i in axes) for i in range(rank)),
        count=count,
        in_zp=in_zp,
        out_zp=out_zp,
    )
    attrs["multiplier"], attrs["shift"] = fold_count(*quantize_multiplier(in_s / out_s), count)
    op.attrs.update(attrs)


def reference(op: Op, graph: Graph, inputs: list[np.ndarray]) -> list[np.ndarray]:
    ensure_prepared(op, graph, "multiplier", prepare)
    a = op.attrs
    x = np.asarray(inputs[0]).astype(np.int64).reshape(a["in_dims"])
    axes = tuple(i for i in range(4) if a["reduce"][i])
    acc = x.sum(axis=axes) if axes else x
    y = multiply_by_quantized_multiplier(acc - a["in_zp"] * a["count"], a["multiplier"], a["shift"]) + a["out_zp"]
    y = np.clip(y, -128, 127)
    return [y.astype(np.int8).reshape(tensor_out(op, graph).shape)]


def macs(op: Op, graph: Graph) -> int:
    return tensor_in(op, graph).size


def variant(op: Op, graph: Graph, board) -> str | None:
    """"dsp" (firmware/kernels/mean_dsp.c) on DSP cores for a mean over H and W of 1xHxWxC."""
    ensure_prepared(op, graph, "multiplier", prepare)
    a = op.attrs
    hw = a["in_dims"][0] == 1 and tuple(a["reduce"][1:]) == (1, 1, 0) and a["multiplier"] >= 0
    return "dsp" if board.dsp and hw else None


def emit(op: Op, graph: Graph, ctx) -> str:
    ensure_prepared(op, graph, "multiplier", prepare)
    a = op.attrs
    fields = {k: a[k] for k in ("in_dims", "reduce", "count", "in_zp", "out_zp", "multiplier", "shift")}
    params = params_struct(ctx, "mf_mean_params", fields)
    fn = "mf_mean_hw_s8_dsp" if a.get("variant") == "dsp" else "mf_mean"
    return f"{fn}(&{params}, {ctx.tensor(op.inputs[0])}, {ctx.tensor(op.outputs[0])});"
