"""Model front ends: read a trained model file into the graph IR (``mcuforge.graph.ir``)."""
from .errors import ModelError, UnsupportedOpError

__all__ = ["ModelError", "UnsupportedOpError", "load_tflite"]


def __getattr__(name: str):
    # Imported lazily: the graph passes import model.errors, and tflite imports those passes.
    if name == "load_tflite":
        from .tflite import load_tflite

        return load_tflite
    raise AttributeError(name)
