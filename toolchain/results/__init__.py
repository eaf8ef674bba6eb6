"""Results: the SQLite store every measurement lands in, and the HTML report over it."""
from .store import (CYCLES_KINDS, KINDS, STATUSES, Artifact, LayerRow, Metric, ResultsError, ResultsStore,
                    RunHandle, RunRecord, SampleRow, default_db_path, open_store, toolchain_version)

__all__ = ["CYCLES_KINDS", "KINDS", "STATUSES", "Artifact", "LayerRow", "Metric", "ResultsError",
           "ResultsStore", "RunHandle", "RunRecord", "SampleRow", "default_db_path", "open_store",
           "toolchain_version", "render_report", "write_report"]


def __getattr__(name: str):
    # The report pulls in matplotlib; load it only when asked for, not on every store write.
    if name in ("render_report", "write_report"):
        from . import report

        return getattr(report, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
