"""The Flower ServerApp: rounds of train -> aggregate -> evaluate over every connected board.

Run settings come from the run config (``rounds``, ``rule``, ``lr``, ``batch``, ``classes``,
``aggregation``, ``boards``: how many SuperNodes to wait for, ``out``: the JSON Lines file each
finished round is appended to, flushed at once, so a round's results survive whatever happens
after it). A board whose reply does not come (its SuperNode died, or the board kept failing) is
left out of that round's aggregate and named in the round's record."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.serverapp import Grid, ServerApp

from ..learning.checkpoint import HeadState
from .aggregate import aggregate_replies, share_order
from .messages import CONFIG, METRICS, state_of, state_record

app = ServerApp()


def _log(msg: str) -> None:
    print(f"mcuforge server: {msg}", file=sys.stderr, flush=True)


def _wait_for_nodes(grid: Grid, want: int, timeout: float) -> list[int]:
    end = time.monotonic() + timeout
    while True:
        nodes = sorted(grid.get_node_ids())
        if len(nodes) >= want or time.monotonic() > end:
            return nodes
        time.sleep(0.5)


def _send(grid: Grid, nodes, kind: str, config: dict, state: bytes | None, timeout: float):
    content = {CONFIG: ConfigRecord(config)}
    if state is not None:
        content["state"] = state_record(state)
    msgs = [Message(RecordDict(content), dst_node_id=n, message_type=kind) for n in nodes]
    replies = {m.metadata.src_node_id: m for m in grid.send_and_receive(msgs, timeout=timeout)}
    ok = {n: m for n, m in replies.items() if m.has_content()}
    errors = {n: (m.error.reason if m.has_error() else "no reply") for n, m in replies.items() if n not in ok}
    errors.update({n: "no reply" for n in nodes if n not in replies})
    sent = (len(state) if state is not None else 0) * len(nodes)
    return ok, errors, sent


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    out = Path(str(cfg["out"]))
    timeout = float(cfg.get("round-timeout", 600))
    nodes = _wait_for_nodes(grid, int(cfg["boards"]), timeout)
    _log(f"{len(nodes)} SuperNodes connected")
    base = {"rule": str(cfg["rule"]), "lr": float(cfg["lr"]), "batch": int(cfg["batch"]),
            "classes": int(cfg["classes"])}
    first, errors, _ = _send(grid, nodes[:1], "query", {**base, "round": 0}, None, timeout)
    if not first:
        raise RuntimeError(f"no board sent its initial head: {errors}")
    blob = state_of(next(iter(first.values())).content)
    for rnd in range(1, int(cfg["rounds"]) + 1):
        t0 = time.monotonic()
        nodes = sorted(grid.get_node_ids())
        trained, failed, sent = _send(grid, nodes, "train", {**base, "round": rnd}, blob, timeout)
        boards, replies, received = {}, [], 0
        for n, m in trained.items():
            s = state_of(m.content)
            received += len(s)
            metrics = dict(m.content[METRICS])
            info = dict(m.content[CONFIG])
            replies.append((share_order(info["share"], n), HeadState.from_bytes(s), list(metrics.pop("counts"))))
            boards[str(n)] = {**metrics, **info}
        if replies:
            blob = aggregate_replies(HeadState.from_bytes(blob), replies, str(cfg["aggregation"])).to_bytes()
        evaluated, eval_failed, eval_sent = _send(grid, sorted(trained), "evaluate", {**base, "round": rnd},
                                                  blob, timeout)
        evals = [dict(m.content[METRICS]) for m in evaluated.values()]
        accs = [{k: v for k, v in e.items() if k.startswith("accuracy")} for e in evals]
        for n, m in evaluated.items():
            boards[str(n)]["eval_serial_bytes"] = dict(m.content[METRICS])["serial_bytes"]
        record = {"round": rnd, "global": accs[0] if accs else {},
                  "boards_agree": all(a == accs[0] for a in accs), "boards": boards,
                  "failed": {str(n): e for n, e in {**failed, **eval_failed}.items()},
                  "network_bytes": sent + received + eval_sent, "wall_s": time.monotonic() - t0,
                  "state": blob.hex()}
        with out.open("a") as f:
            f.write(json.dumps(record) + "\n")
        _log(f"round {rnd}: {len(trained)} boards trained, global accuracy "
             f"{record['global'].get('accuracy_all', float('nan')):.3f}, {record['wall_s']:.1f} s")
