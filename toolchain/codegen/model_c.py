"""Graph + arena plan -> model.c / model.h: one call per layer, shapes and quantization in comments."""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .. import ops as op_registry
from ..graph.ir import Graph, Tensor
from ..plan.arena import ArenaPlan
from ..resources import templates_dir
from .c_literals import c_array_body
from .context import EmitContext

DTYPE_CODES = {"int8": 1, "uint8": 2, "int16": 3, "int32": 4, "float32": 5, "uint32": 6, "int64": 7}


def c_ident(text: str) -> str:
    out = "".join(ch if ch.isalnum() else "_" for ch in text)
    return out if out and not out[0].isdigit() else "_" + out


def describe(t: Tensor) -> str:
    shape = "x".join(str(d) for d in t.shape) or "scalar"
    q = ""
    if t.quant is not None:
        if t.quant.per_channel:
            q = f", per-channel scale[{t.quant.scale.size}] axis {t.quant.axis}"
        else:
            q = f", scale {t.quant.s:.6g} zp {t.quant.zp}"
    return f"{shape} {t.dtype}{q}"


def _short(name: str) -> str:
    """A readable C name from a tensor name: its last two path parts (``conv2d_1/Relu``)."""
    parts = [p for p in name.replace(":", "_").split("/") if p]
    return c_ident("_".join(parts[-2:]))[:48].strip("_") or "t"


def _attr_summary(attrs: dict) -> str:
    keep = []
    for key in ("stride", "dilation", "padding", "filter", "depth_multiplier", "activation", "axes", "beta"):
        if key in attrs and attrs[key] not in (None, "none"):
            v = attrs[key]
            v = "x".join(map(str, v)) if isinstance(v, (tuple, list)) else v
            keep.append(f"{key} {v}")
    return ", ".join(keep)


@dataclass
class Layer:
    index: int  # position in the generated invoke (profile row)
    op_index: int  # operator index in the source model
    kind: str
    name: str
    inputs: list[str]
    output: str
    macs: int


@dataclass
class ModelSource:
    model_c: str
    model_h: str
    layers: list[Layer]
    macs: int


@functools.lru_cache(maxsize=1)
def _templates():
    """The model templates, compiled once per process (compiling them costs more than rendering)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / "model")),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(graph: Graph, plan: ArenaPlan, model_name: str) -> ModelSource:
    env = _templates()

    # Every tensor gets a C expression: weights a const symbol, activations a pointer into the arena.
    exprs: dict[str, str] = {}
    for i, t in enumerate(graph.constants()):
        exprs[t.name] = f"W{i}_{_short(t.name)}"
    activations = []
    persistent = []  # what mf_model_reset() sets: state zeroed, trainable copies from flash
    for t in graph.activations():
        macro = f"T_{_short(t.name)}"
        if macro in {a['macro'] for a in activations}:
            macro += f"_{len(activations)}"
        off = plan.offsets[t.name]
        exprs[t.name] = macro
        kept = {"state": ", state: kept across invokes", "trainable": ", trainable: RAM copy the device updates"}
        activations.append(dict(macro=macro, ctype=t.ctype, offset=off,
                                comment=f"{t.name}: {describe(t)}{kept.get(t.storage, '')}"))
        if t.persistent:
            init = None
            if t.data is not None:
                init = dict(symbol=f"I_{macro[2:]}", ctype=t.ctype, size=max(t.size, 1),
                            body=c_array_body(np.asarray(t.data).astype(np.dtype(t.dtype)).reshape(-1)))
            persistent.append(dict(macro=macro, bytes=t.nbytes, storage=t.storage, init=init))
    for key, off in plan.offsets.items():
        if key.startswith("__scratch__"):
            exprs[key] = f"(mf_arena.bytes + {off})"

    layers: list[Layer] = []
    replaced: set[str] = set()  # constants a kernel declared in its own layout (EmitContext.replace)
    blocks = []
    headers = set()
    total_macs = 0
    for oi, op in enumerate(graph.ops):
        mod = op_registry.get(op.kind)
        in_desc = "; ".join(f"{graph.tensors[n].name}: {describe(graph.tensors[n])}" for n in op.inputs if n and not graph.tensors[n].is_const)
        out_desc = "; ".join(describe(graph.tensors[n]) for n in op.outputs)
        if getattr(mod, "ALIAS", False):
            blocks.append(dict(alias=True, comment=f"op {op.index} {op.kind}: {in_desc} -> {out_desc} (same bytes, no code)"))
            continue
        li = len(layers)
        ctx = EmitContext(graph, op, li, {**exprs, "__scratch__": exprs.get(f"__scratch__L{oi}", "0")})
        call = mod.emit(op, graph, ctx)
        replaced |= ctx.replaced
        macs = int(mod.macs(op, graph))
        total_macs += macs
        headers.add(getattr(mod, "C_HEADER", f"{op.kind}.h"))
        if op.attrs.get("variant"):  # an ISA variant of the kernel: firmware/kernels/<kind>_<variant>.h
            headers.add(f"{op.kind}_{op.attrs['variant']}.h")
        layers.append(Layer(li, op.index, op.kind, op.name, [n for n in op.inputs if n], op.outputs[0], macs))
        blocks.append(dict(
            alias=False, layer=li, decls=ctx.decls, call=call.strip().rstrip(";") + ";",
            title=f"layer {li}: {op.kind.upper()} (model op {op.index}{', ' + op.name if op.name else ''})",
            attrs=_attr_summary(op.attrs), inputs=in_desc, output=out_desc, macs=macs,
        ))

    weights = [dict(symbol=exprs[t.name], ctype=t.ctype, size=max(t.size, 1), comment=f"{t.name}: {describe(t)}",
                    body=c_array_body(t.data.astype(np.dtype(t.dtype))))
               for t in graph.constants() if t.name not in replaced]

    def io(names):
        return [dict(expr=exprs[n], bytes=graph.tensors[n].nbytes, dtype=DTYPE_CODES[graph.tensors[n].dtype],
                     comment=f"{n}: {describe(graph.tensors[n])}") for n in names]

    ctx = dict(
        model_name=model_name, source_hash=graph.source_hash, arena_bytes=plan.arena_bytes,
        naive_arena_bytes=plan.naive_bytes(), weights=weights, activations=activations, blocks=blocks,
        layers=layers, headers=sorted(headers), inputs=io(graph.inputs), outputs=io(graph.outputs),
        states=io([t.name for t in graph.states()]),
        total_macs=total_macs, weights_bytes=sum(t.nbytes for t in graph.constants()), persistent=persistent,
    )
    return ModelSource(env.get_template("model.c.j2").render(**ctx), env.get_template("model.h.j2").render(**ctx),
                       layers, total_macs)
