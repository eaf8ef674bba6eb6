"""What a fleet run measured, per board and across the fleet: the spread of the counts over the
boards (emulated instructions, simulated cycles or hardware cycles, as each board counts), how
many boards were bit-exact, and what failed (restarts, dropped boards, items set aside)."""
from __future__ import annotations

# The count each job's per-board summary reports; its spread over the boards is the fleet's.
COUNT_KEY = {"validate": "cycles_median", "profile": "total_cycles", "bench": None, "embed": None}


def board_summary(job, state) -> dict:
    return dict(instance=state.board.instance, board=state.board.board, port=state.board.port,
                run_id=state.run_id, cycles_kind=state.cycles_kind, **job.summarize(state.results),
                restarts=state.restarts, dropped=state.dropped, errors=list(state.errors))


def fleet_summary(job, states, outcome) -> dict:
    per_board = [board_summary(job, s) for s in states]
    everything = [r for s in states for r in s.results]
    kinds = sorted({s.cycles_kind for s in states if s.cycles_kind})
    out = dict(job=job.kind, model_name=job.model_name, boards=len(states),
               boards_dropped=sum(s.dropped for s in states), restarts=sum(s.restarts for s in states),
               items=len(job.items), items_done=len(outcome.done), items_failed=len(outcome.failed),
               items_unfinished=len(outcome.unfinished), failed_items=sorted(map(str, outcome.failed)),
               cycles_kind=kinds[0] if len(kinds) == 1 else ",".join(kinds) or None,
               **job.summarize(everything))
    out["boards_bit_exact"] = sum(1 for b in per_board if b.get("mismatches") == 0 and
                                  (b.get("samples") or b.get("runs") or b.get("models")))
    key = COUNT_KEY[job.kind]
    counts = [b[key] for b in per_board if key and b.get(key) is not None]
    if counts:
        lo, hi = min(counts), max(counts)
        out.update(cycles_board_min=lo, cycles_board_max=hi, cycles_spread=(hi - lo) / lo if lo else None)
    names = {s.board.board for s in states}
    if everything and len(names) == 1:  # a profile's per-layer medians, over the fleet and per board
        out["layers"] = job.layer_rows(everything, names.pop())
        for b, s in zip(per_board, states):
            b["layers"] = job.layer_rows(s.results, s.board.board) if s.results else []
    out["per_board"] = per_board
    return out
