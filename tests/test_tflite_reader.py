"""TFLite reader: zoo models read into the IR with neutral attrs, shape ops folded away,
quantization read exactly, and unsupported models refused with messages that name the problem."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from models.zoo import REFUSED, SUPPORTED, ZOO
from mcuforge import ops
from mcuforge.graph.fold import fold_constants
from mcuforge.graph.ir import Graph, Op, Tensor
from mcuforge.model import ModelError, UnsupportedOpError, load_tflite
from mcuforge.model.tflite import read_raw

SHAPE_OPS = {"SHAPE", "STRIDED_SLICE", "PACK", "GATHER", "CONCATENATION", "REDUCE_PROD"}


def kinds(g: Graph) -> list[str]:
    return [op.kind for op in g.ops]


@pytest.mark.parametrize("name", SUPPORTED)
def test_zoo_model_reads_and_lowers(name):
    data = ZOO[name]()
    g = load_tflite(data)
    assert g.source_hash == hashlib.sha256(data).hexdigest()
    assert g.ops and set(kinds(g)) <= set(ops.supported())
    assert not {op.attrs["source_op"] for op in g.ops} & SHAPE_OPS
    for n in g.inputs + g.outputs:
        assert g.tensor(n).shape[0] == 1
    # every tensor an op touches exists, activations have no data, weights do
    for op in g.ops:
        for n in op.inputs + op.outputs:
            assert n in g.tensors
        for n in op.outputs:
            assert not g.tensor(n).is_const
    # indices are the source operator positions, increasing
    idx = [op.index for op in g.ops]
    assert idx == sorted(idx) and len(set(idx)) == len(idx)


def test_flatten_shape_arithmetic_is_folded_to_one_reshape():
    data = ZOO["dense_flatten"]()
    raw = read_raw(data)
    assert {"SHAPE", "STRIDED_SLICE", "PACK"} <= {op.kind for op in raw.ops}  # Keras 3's Flatten
    g = load_tflite(data)
    assert kinds(g) == ["conv2d", "reshape", "fully_connected", "fully_connected", "softmax"]
    reshape = g.ops[1]
    assert reshape.inputs == [g.ops[0].outputs[0]]  # the shape tensor is gone
    assert reshape.attrs["shape"] == (1, 4 * 4 * 4) == g.tensor(reshape.outputs[0]).shape
    assert all(t.dtype in ("int8", "int32") for t in g.tensors.values())
    # no leftover shape tensors
    assert not [t for t in g.tensors.values() if t.quant is None and t.is_const and t.dtype == "int32"]


def test_conv_attrs_and_per_channel_quant():
    g = load_tflite(ZOO["conv_variants"]())
    convs = [op for op in g.ops if op.kind == "conv2d"]
    assert [op.attrs["stride"] for op in convs] == [(1, 1), (2, 2), (1, 1), (1, 2), (1, 1)]
    assert [op.attrs["dilation"] for op in convs] == [(1, 1), (1, 1), (2, 2), (1, 1), (1, 1)]
    assert [op.attrs["padding"] for op in convs] == ["same", "valid", "same", "same", "valid"]
    assert [op.attrs["activation"] for op in convs] == ["relu", "relu6", "none", "relu", "none"]
    assert convs[3].attrs["pad"] == (0, 1)  # 2x4 kernel, stride (1,2) on 4x3: odd padding
    for op in convs:
        w = g.tensor(op.inputs[1])
        assert w.dtype == "int8" and w.is_const and w.quant.axis == 0
        assert w.quant.scale.size == w.shape[0] and w.quant.scale.dtype == np.float32
        assert op.attrs["multiplier"].size == w.shape[0]
        assert op.attrs["input_offset"] == -g.tensor(op.inputs[0]).quant.zp
        if len(op.inputs) > 2:
            assert g.tensor(op.inputs[2]).dtype == "int32"
    relu6 = convs[1]
    y = g.tensor(relu6.outputs[0]).quant
    assert relu6.attrs["act_max"] == min(127, y.zp + round(6.0 / y.s))


def test_conv_per_tensor_quant():
    g = load_tflite(ZOO["conv_per_tensor"]())
    for op in g.ops:
        assert g.tensor(op.inputs[1]).quant.scale.size == 1
        assert op.attrs["per_channel"] is False and op.attrs["multiplier"].size == 1


def test_depthwise_multiplier_and_axis():
    g = load_tflite(ZOO["depthwise"]())
    dws = [op for op in g.ops if op.kind == "depthwise_conv2d"]
    assert [op.attrs["depth_multiplier"] for op in dws] == [1, 2, 1, 2]
    assert [op.attrs["dilation"] for op in dws] == [(1, 1), (1, 1), (2, 2), (1, 1)]
    for op in dws:
        w = g.tensor(op.inputs[1])
        assert w.shape[0] == 1 and w.quant.axis == 3 and w.quant.scale.size == w.shape[3]


def test_pooling_mean_softmax_add_attrs():
    g = load_tflite(ZOO["pooling"]())
    pools = [(op.kind, op.attrs["filter"], op.attrs["stride"], op.attrs["padding"]) for op in g.ops if "pool" in op.kind]
    assert pools == [("avg_pool2d", (2, 2), (2, 2), "same"), ("max_pool2d", (3, 3), (2, 2), "valid"),
                     ("max_pool2d", (2, 2), (2, 2), "same"), ("avg_pool2d", (2, 1), (1, 1), "valid")]
    g = load_tflite(ZOO["global_pool"]())
    mean = next(op for op in g.ops if op.kind == "mean")
    assert mean.attrs["axes"] == (1, 2) and len(mean.inputs) == 1
    soft = next(op for op in g.ops if op.kind == "softmax")
    assert soft.attrs["beta"] == 1.0
    g = load_tflite(ZOO["residual"]())
    adds = [op for op in g.ops if op.kind == "add"]
    assert [op.attrs["activation"] for op in adds] == ["relu6", "none"]


def test_float_io_model_quantizes_and_dequantizes():
    g = load_tflite(ZOO["float_io"]())
    assert kinds(g)[0] == "quantize" and kinds(g)[-1] == "dequantize"
    assert g.tensor(g.inputs[0]).dtype == "float32" and g.tensor(g.outputs[0]).dtype == "float32"


def test_fully_connected_per_channel_and_per_tensor():
    fc = [op for op in load_tflite(ZOO["dense_flatten"]()).ops if op.kind == "fully_connected"]
    assert all(op.attrs["per_channel"] for op in fc)  # the converter's default for Dense
    assert [len(op.inputs) for op in fc] == [3, 2]  # Dense(use_bias=False): no bias tensor
    fc = [op for op in load_tflite(ZOO["dense_per_tensor"]()).ops if op.kind == "fully_connected"]
    assert fc and not any(op.attrs["per_channel"] for op in fc)
    assert [op.attrs["activation"] for op in fc] == ["relu6", "none"]


def test_path_and_bytes_give_the_same_graph(tmp_path):
    data = ZOO["global_pool"]()
    p = tmp_path / "kws_small.tflite"
    p.write_bytes(data)
    a, b = load_tflite(p), load_tflite(data)
    assert a.name == "kws_small" and a.source_hash == b.source_hash
    assert kinds(a) == kinds(b)


def test_lower_false_keeps_neutral_attrs_only():
    g = load_tflite(ZOO["conv_variants"](), lower=False)
    assert "multiplier" not in g.ops[0].attrs and g.ops[0].attrs["padding"] == "same"


# ---------------------------------------------------------------- refused models


def test_unsupported_op_names_op_layer_and_supported_list():
    with pytest.raises(UnsupportedOpError) as err:
        load_tflite(ZOO["unsupported_tanh"]())
    e = err.value
    assert e.op == "TANH" and e.index == 1
    msg = str(e)
    assert "TANH" in msg and "layer 1" in msg
    for name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX", "STRIDED_SLICE"):
        assert name in msg
    assert isinstance(e, ModelError)


def test_float_model_is_refused_naming_the_type():
    with pytest.raises(UnsupportedOpError, match=r"CONV_2D at layer 0: input is float32; only int8"):
        load_tflite(ZOO["float32_conv"]())


def test_dilation_in_dynamic_batch_model_gets_a_hint():
    with pytest.raises(UnsupportedOpError, match=r"SPACE_TO_BATCH_ND at layer 0.*batch_size=1"):
        load_tflite(ZOO["dilated_dynamic_batch"]())


def test_lstm_model_is_refused_naming_the_op():
    """TFLM's int8 LSTM (mnist_lstm) layout: the fused op with variable state tensors. The op is the
    reason, not its state tensors (was: "tensor ... is a variable")."""
    assert any(t.storage == "state" for t in read_raw(ZOO["lstm_int8"]()).tensors.values())
    with pytest.raises(UnsupportedOpError, match=r"UNIDIRECTIONAL_SEQUENCE_LSTM at layer 0: no kernel for this op; "
                                                 r"recurrent layers .* are not supported") as err:
        load_tflite(ZOO["lstm_int8"]())
    assert "variable" not in str(err.value) and "FULLY_CONNECTED" in str(err.value)


def test_16x8_model_is_refused_naming_the_scheme():
    """int16 activations with int64 biases (TFLM's SeaNet models): the scheme is the reason, and the
    message says what to convert with instead (was: "tensor ... has type int64")."""
    with pytest.raises(UnsupportedOpError) as err:
        load_tflite(ZOO["int16x8_conv"]())
    msg = str(err.value)
    assert "CONV_2D at layer 0" in msg and "16x8" in msg and "int64" not in msg
    assert "EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8" in msg and "TFLITE_BUILTINS_INT8]" in msg


def test_too_big_model_still_reads():
    """Refused later by the board budget, not by the reader."""
    g = load_tflite(ZOO["too_big"]())
    assert sum(t.nbytes for t in g.constants()) > 1_000_000
    assert "too_big" in REFUSED


def test_not_a_tflite_file(tmp_path):
    with pytest.raises(ModelError, match="TFL3"):
        load_tflite(b"\x00" * 64)
    with pytest.raises(ModelError, match="not found"):
        load_tflite(tmp_path / "missing.tflite")
    data = bytearray(ZOO["global_pool"]())
    with pytest.raises(ModelError):
        load_tflite(bytes(data[: len(data) // 3]))


def test_batch_other_than_one_is_refused():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    import flatbuffers

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(ZOO["global_pool"](), 0))
    sub = model.subgraphs[0]
    t = sub.tensors[sub.inputs[0]]
    t.shape = np.array([4, *t.shape[1:]], dtype=np.int32)
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(ModelError, match="batch size 4"):
        load_tflite(bytes(b.Output()))


# ---------------------------------------------------------------- constant folding


def _t(name, shape, dtype="int32", data=None):
    return Tensor(name, tuple(shape), dtype, None, None if data is None else np.asarray(data, dtype=dtype))


def test_fold_strided_slice_masks_gather_concat_prod():
    tensors = {
        "x": Tensor("x", (1, 6, 5, 3), "int8"),
        "s": _t("s", (4,)),
        "b": _t("b", (1,), data=[1]), "e": _t("e", (1,), data=[3]), "one": _t("one", (1,), data=[1]),
        "b0": _t("b0", (1,), data=[0]), "e0": _t("e0", (1,), data=[1]),
        "hw": _t("hw", (2,)), "n": _t("n", ()), "prod": _t("prod", ()), "ax": _t("ax", (1,), data=[0]),
        "idx": _t("idx", (2,), data=[3, 0]), "g": _t("g", (2,)), "cat": _t("cat", (4,)),
        "all": _t("all", (4,)), "rest": _t("rest", (3,)), "b1": _t("b1", (1,), data=[1]), "e9": _t("e9", (1,), data=[0]),
        "y": Tensor("y", (1, 90), "int8"), "shape": _t("shape", (2,)), "m1": _t("m1", (), data=-1),
    }
    ops_ = [
        Op("SHAPE", ["x"], ["s"], {"outType": 2}, 0),
        Op("STRIDED_SLICE", ["s", "b", "e", "one"], ["hw"], {}, 1),
        Op("STRIDED_SLICE", ["s", "b0", "e0", "one"], ["n"], {"shrinkAxisMask": 1}, 2),
        Op("REDUCE_PROD", ["s", "ax"], ["prod"], {"keepDims": False}, 3),
        Op("GATHER", ["s", "idx"], ["g"], {"axis": 0}, 4),
        Op("CONCATENATION", ["g", "hw"], ["cat"], {"axis": 0}, 5),
        Op("STRIDED_SLICE", ["s", "b1", "e9", "one"], ["rest"], {"endMask": 1}, 6),
        Op("PACK", ["n", "m1"], ["shape"], {"axis": 0, "valuesCount": 2}, 7),
        Op("RESHAPE", ["x", "shape"], ["y"], {}, 8),
    ]
    g = Graph("t", tensors, ops_, ["x"], ["y", "hw", "prod", "cat", "rest"])
    fold_constants(g)
    assert [op.kind for op in g.ops] == ["RESHAPE"]
    assert g.tensor("hw").data.tolist() == [6, 5]
    assert g.tensor("prod").data.tolist() == 90
    assert g.tensor("cat").data.tolist() == [3, 1, 6, 5]
    assert g.tensor("rest").data.tolist() == [6, 5, 3]
    assert g.tensor("shape").data.tolist() == [1, -1]


def test_fold_drops_dead_ops_and_keeps_activation_ops():
    tensors = {
        "x": Tensor("x", (1, 4), "int8"), "y": Tensor("y", (1, 4), "int8"),
        "dead": Tensor("dead", (1, 4), "int8"), "s": _t("s", (2,)),
    }
    ops_ = [
        Op("SHAPE", ["x"], ["s"], {}, 0),  # result unused -> dropped
        Op("TANH", ["x"], ["dead"], {}, 1),  # unused -> dropped
        Op("LOGISTIC", ["x"], ["y"], {}, 2),  # graph output -> kept (not foldable)
    ]
    g = Graph("t", tensors, ops_, ["x"], ["y"])
    fold_constants(g)
    assert [op.kind for op in g.ops] == ["LOGISTIC"]
    assert set(g.tensors) == {"x", "y"}


def test_corrupted_bytes_give_model_error_or_a_graph():
    """Random byte flips: the reader either reads a (different) model or raises ModelError;
    never another exception type."""
    data = ZOO["dense_flatten"]()
    rng = np.random.default_rng(0)
    errors = 0
    for _ in range(150):
        b = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        try:
            load_tflite(bytes(b))
        except ModelError:
            errors += 1
    assert errors > 0


def test_missing_operands_are_a_model_error_naming_the_operator():
    """A corrupt file can leave an operator without the operands its kernel needs."""
    from mcuforge.graph.lower import lower

    g = load_tflite(ZOO["dense_flatten"]())
    fc = next(op for op in g.ops if op.kind == "fully_connected")
    fc.inputs = fc.inputs[:1]  # the weights are gone
    with pytest.raises(ModelError, match=rf"operator {fc.index} \(FULLY_CONNECTED\) has 1 input\(s\)"):
        lower(g)
