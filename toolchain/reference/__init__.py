"""Reference executions: the numpy graph executor and the TFLM interpreter wrapper."""
from .executor import run_graph, run_graph_all

__all__ = ["run_graph", "run_graph_all"]
