"""The records a federated round sends over Flower: a head checkpoint blob as an ArrayRecord of
bytes, the round's settings as a ConfigRecord, what a board measured as a MetricRecord."""
from __future__ import annotations

import numpy as np

STATE = "state"      # ArrayRecord: {"blob": uint8 array}
CONFIG = "config"    # ConfigRecord: rule, lr, batch, classes, round
METRICS = "metrics"  # MetricRecord: accuracies, counts, bytes


def state_record(blob: bytes):
    from flwr.app import Array, ArrayRecord

    return ArrayRecord({"blob": Array(np.frombuffer(bytes(blob), dtype=np.uint8).copy())})


def state_of(content) -> bytes | None:
    if STATE not in content:
        return None
    return content[STATE]["blob"].numpy().astype(np.uint8).tobytes()


__all__ = ["CONFIG", "METRICS", "STATE", "state_of", "state_record"]
