"""Bad models are refused with a ModelError naming the field, never another exception.

Each case changes one field of a shipped zoo model through the flatbuffer object API (the kinds
of change the mutation fuzzer makes, tests/model_fuzz.py) and checks the refusal's words. Every
case here raised something else before the reader checked that field (KeyError, ZeroDivisionError,
IndexError, ValueError, UnicodeDecodeError, OverflowError, TypeError) or compiled a broken model.
"""
from __future__ import annotations

import re

import flatbuffers
import numpy as np
import pytest
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from models.zoo import ZOO
from model_fuzz import compile_model
from mcuforge.boards import load_board
from mcuforge.graph.quant import activation_range, quantize_multiplier
from mcuforge.model import ModelError, load_tflite
from mcuforge.plan.budget import BudgetError

# global_pool: t0 input [1,9,9,3] -> op0 CONV_2D (t0, w t5, b t4) -> t6 -> op1 MEAN (t6, axes t1) -> t7
#              -> op2 FULLY_CONNECTED (t7, w t3, b t2) -> t8 -> op3 SOFTMAX -> t9 (graph output)
# depthwise:   t0 input [1,12,11,4] -> op0 DEPTHWISE_CONV_2D (t0, w t8, b t7) -> t9 -> ...


def mutated(name: str, change) -> bytes:
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(ZOO[name](), 0))
    change(m, m.subgraphs[0])
    b = flatbuffers.Builder(4096)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def _set(obj, **fields):
    for k, v in fields.items():
        setattr(obj, k, v)


def _op_input(op: int, k: int, v: int):
    def change(m, s):
        ins = [int(i) for i in s.operators[op].inputs]
        ins[k] = v
        s.operators[op].inputs = ins
    return change


def _tensor(t: int, **fields):
    return lambda m, s: _set(s.tensors[t], **fields)


def _quant(t: int, **fields):
    return lambda m, s: _set(s.tensors[t].quantization, **fields)


def _options(op: int, **fields):
    return lambda m, s: _set(s.operators[op].builtinOptions, **fields)


def _grow_buffer(t: int, extra: int):
    def change(m, s):
        b = m.buffers[s.tensors[t].buffer]
        b.data = np.concatenate([np.asarray(b.data if b.data is not None else [], np.uint8), np.zeros(extra, np.uint8)])
    return change


def _custom_code(m, s):
    code = m.operatorCodes[s.operators[3].opcodeIndex]
    _set(code, builtinCode=32, deprecatedBuiltinCode=32, customCode=b"\xb5y\x0eV")


def _mean_axes_2d(m, s):
    t = s.tensors[1]
    t.shape = [1, 2]  # same two axes, as a 1x2 matrix
    t.type = schema.TensorType.INT32


def _swap_options(m, s):
    op = s.operators[0]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.Pool2DOptions, schema.Pool2DOptionsT()


CASES = {
    # (model, change, what the refusal says)
    "negative tensor index (was KeyError '')": (
        "global_pool", _op_input(0, 1, -128), r"operator 0 \(CONV_2D\) input 1 refers to tensor -128"),
    "absent required operand (was KeyError '')": (
        "global_pool", _op_input(0, 1, -1), r"operator 0 \(CONV_2D\) input 1 \(filter\) is absent"),
    "negative graph output index (was KeyError '')": (
        "global_pool", lambda m, s: _set(s, outputs=[-1]), r"graph output 0 refers to tensor -1"),
    "0-D input of MEAN (was ZeroDivisionError)": (
        "global_pool", _tensor(6, shape=[]), r"CONV_2D at layer 0: expects 4-D"),
    "0-D input of depthwise (was IndexError)": (
        "depthwise", _tensor(0, shape=[]), r"DEPTHWISE_CONV_2D at layer 0: expects 4-D"),
    "buffer not a whole number of values (was ValueError)": (
        "global_pool", _grow_buffer(4, 1), r"tensor 4 .* holds 33 bytes, not a whole number of int32 values"),
    "a constant that an operator writes (was KeyError in codegen)": (
        "global_pool", _grow_buffer(9, 4), r"operator 3 \(SOFTMAX\) output 0 is .* a constant tensor"),
    "graph output no operator writes (was KeyError in codegen)": (
        "global_pool", lambda m, s: _set(s, outputs=[3]), r"graph output .*dense_1/MatMul.* is written by no operator"),
    "custom op name not UTF-8 (was UnicodeDecodeError)": (
        "global_pool", _custom_code, r"operator CUSTOM:\ufffdy\x0eV at layer 3: no kernel"),
    "negative zero scale (was OverflowError)": (
        "global_pool", _quant(6, scale=[-0.0]), r"tensor 6 .*: quantization scale\[0\] is -0.0"),
    "NaN scale": ("global_pool", _quant(5, scale=[1.0] * 7 + [float("nan")]), r"tensor 5 .* scale\[7\] is nan"),
    "unknown type of a constant (was KeyError 'type25')": (
        "global_pool", _tensor(1, type=25), r"constant tensor 1 .* has type TYPE CODE 25, which mcuforge does not"),
    "FLOAT64 activation (was KeyError 'float64')": (
        "global_pool", _tensor(7, type=schema.TensorType.FLOAT64),
        r"MEAN at layer 1: tensor .* has type float64, which is not supported"),
    "zero points and scales differ in count": (
        "global_pool", _quant(5, zeroPoint=[0, 0]), r"tensor 5 .* 8 scale\(s\) but 2 zero point\(s\)"),
    "zero point outside int8": ("global_pool", _quant(0, zeroPoint=[300]), r"zero_point\[0\] is 300, outside the int8"),
    "quantized dimension out of range": (
        "global_pool", _quant(5, quantizedDimension=4), r"tensor 5 .* quantized_dimension 4 with 8 per-channel"),
    "buffer index past the end": ("global_pool", _tensor(5, buffer=99), r"tensor 5 .* refers to buffer 99; .* 0..12"),
    "buffer past the end of the file": (
        "global_pool", lambda m, s: _set(m.buffers[6], offset=10**6, size=216, data=None),
        r"buffer 6 lies at bytes 1000000..1000216, past the end"),
    "negative dimension": ("global_pool", _tensor(3, shape=[4, -8]), r"tensor 3 .* dimension 1 is -8"),
    "0-D output of FULLY_CONNECTED (was IndexError)": (
        "global_pool", _tensor(8, shape=[]), r"FULLY_CONNECTED at layer 2: output shape \(\) does not hold 1 x 4"),
    "softmax beta -inf (was OverflowError, found by python -m bench fuzz)": (
        "global_pool", _options(3, beta=float("-inf")), r"SOFTMAX at layer 3: option beta is -inf; it must be finite"),
    "empty activation": ("global_pool", _tensor(7, shape=[1, 0]), r"MEAN at layer 1: tensor .* shape \(1, 0\): it is empty"),
    "huge shape (int64 overflow)": (
        "global_pool", _tensor(6, shape=[1, 2**20, 2**20, 2**20]), r"tensor 6 .* more than 2,147,483,647"),
    "stride 0 (was read as 1)": ("global_pool", _options(0, strideH=0), r"CONV_2D at layer 0: option strideH is 0"),
    "options of another op (were read as defaults)": (
        "global_pool", _swap_options, r"CONV_2D at layer 0: builtin options: the model has Pool2DOptions options, "
                                      r"this op needs Conv2DOptions"),
    "missing options (were read as defaults)": (
        "global_pool", lambda m, s: _set(s.operators[0], builtinOptionsType=0, builtinOptions=None),
        r"CONV_2D at layer 0: builtin options: the model has no options"),
    "a tensor read before it is written": (
        "global_pool", lambda m, s: _set(s.operators[0], inputs=[7, 5, 4]),
        r"operator 0 \(CONV_2D\) input 0 reads tensor .* which no earlier operator writes"),
    "too many operands": (
        "global_pool", lambda m, s: _set(s.operators[3], inputs=[8, 8]),
        r"operator 3 \(SOFTMAX\) has 2 input\(s\) and 1 output\(s\); it takes input and 1 output"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_model_is_refused_naming_the_field(case):
    name, change, words = CASES[case]
    data = mutated(name, change)
    with pytest.raises(ModelError) as err:
        compile_model(data, load_board("netduinoplus2"))
    assert re.search(words, str(err.value)), str(err.value)


def test_mean_axes_of_any_shape_are_read():
    """The axes tensor as a 1x2 matrix holds the same two axes (was TypeError)."""
    g = load_tflite(mutated("global_pool", _mean_axes_2d))
    assert next(op for op in g.ops if op.kind == "mean").attrs["axes"] == (1, 2)


def test_every_op_declares_its_operands():
    """check_operands reads INPUTS: an op without them would take any operand count."""
    from mcuforge import ops

    missing = [k for k in ops.supported() if not getattr(ops.get(k), "INPUTS", None)]
    assert not missing


def test_budget_error_is_a_model_error():
    """A model too big for the board is refused like an unsupported one (exit code 3)."""
    with pytest.raises(ModelError, match="does not fit board") as err:
        compile_model(ZOO["too_big"](), load_board("netduinoplus2"))
    assert isinstance(err.value, BudgetError)


def test_tiny_output_scale_clamps_instead_of_overflowing():
    """6.0 / 1e-45 overflows float32: the clamp is still the int8 range (was OverflowError)."""
    assert activation_range("relu6", 1e-45, 0) == (0, 127)


def test_huge_rescale_factor_is_refused():
    """A multiplier that needs a shift of more than 31 bits cannot run in C (was accepted)."""
    with pytest.raises(ValueError, match="too large for a Q31 multiplier"):
        quantize_multiplier(1e30)
    assert quantize_multiplier(2.0**30) == (2**30, 32 - 1)
    with pytest.raises(ValueError, match="not finite"):
        quantize_multiplier(float("nan"))
