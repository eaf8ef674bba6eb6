"""The Flower ClientApp: a host-side client that owns one board's serial link.

Its SuperNode's node config says which board and which data it owns (``firmware``, ``board``,
``port`` for a real board, ``hash``, ``share``: the path of its share file) — so the same app runs
unchanged on one machine or on many, each SuperNode with its boards attached. Flower starts the
app for each message; the board is opened for the message and closed after it."""
from __future__ import annotations

import sys

from flwr.app import ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from .board import BoardSpec, evaluate_state, load_global, train_round, with_board
from .messages import CONFIG, METRICS, STATE, state_of, state_record
from .shares import load_share

app = ClientApp()


def _log(msg: str) -> None:
    print(f"mcuforge client: {msg}", file=sys.stderr, flush=True)


def _node(context: Context):
    nc = context.node_config
    missing = [k for k in ("firmware", "board", "share") if not str(nc.get(k, ""))]
    if missing:
        raise ValueError(f"this SuperNode's --node-config lacks {', '.join(missing)} (give "
                         f"firmware=\"ELF\" board=\"NAME\" share=\"NPZ\", and port=\"PORT\" for a real board)")
    spec = BoardSpec(str(nc["firmware"]), str(nc["board"]), str(nc.get("port", "")), str(nc.get("hash", "")))
    return spec, load_share(str(nc["share"])), nc


def _metrics(values: dict) -> MetricRecord:
    return MetricRecord({k: (float(v) if isinstance(v, float) else v) for k, v in values.items()})


@app.query()
def initial_head(msg: Message, context: Context) -> Message:
    """The board's pretrained head with the new classes added: the first global head."""
    spec, _, _ = _node(context)
    classes = int(msg.content[CONFIG]["classes"])

    def work(conn, learn):
        load_global(learn, None, classes)
        return learn.read_state()

    blob, serial, _ = with_board(spec, work, 2, _log)
    return Message(RecordDict({STATE: state_record(blob), METRICS: _metrics({"serial_bytes": serial})}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    return train_reply(msg, context)


def train_reply(msg: Message, context: Context, on_step=None) -> Message:
    """The board's round (``board.train_round``, with its ``on_step``) and the reply the server aggregates."""
    spec, share, nc = _node(context)
    cfg = msg.content[CONFIG]
    r = train_round(spec, share, state_of(msg.content), int(cfg["classes"]), str(cfg["rule"]),
                    float(cfg["lr"]), int(cfg["batch"]), on_step=on_step, progress=_log)
    values = {f"local_{k}": v for k, v in r.local.items()}
    values.update(counts=[int(c) for c in r.counts], serial_bytes=r.serial_bytes, restarts=r.restarts,
                  samples=len(share.train_y))
    return Message(RecordDict({STATE: state_record(r.state), METRICS: _metrics(values),
                               CONFIG: ConfigRecord({"board": f"{spec.board}@{spec.port}" if spec.port else spec.board,
                                                     "share": str(nc["share"])})}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    spec, share, _ = _node(context)
    acc, serial = evaluate_state(spec, share, state_of(msg.content), progress=_log)
    return Message(RecordDict({METRICS: _metrics({**acc, "serial_bytes": serial})}), reply_to=msg)
