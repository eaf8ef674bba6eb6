"""Model front ends: read a trained model file into the graph IR (``mcuforge.graph.ir``)."""
from .errors import ModelError, UnsupportedOpError

__all__ = ["Model", "ModelError", "UnsupportedOpError", "load", "load_tflite"]


def __getattr__(name: str):
    # Imported lazily: the graph passes import model.errors, and tflite imports those passes.
    if name == "load_tflite":
        from .tflite import load_tflite

        return load_tflite
    if name in ("load", "Model"):
        from . import loader

        return getattr(loader, name)
    raise AttributeError(name)
