"""EMI-RNN on the device: the rule around the one-step model (``rule``), its numpy twin
(``reference``), the link extension's host side (``client``) and validation (``validation``)."""
from .reference import BagResult, run_bag
from .rule import RnnRule, render_rnn_config

__all__ = ["BagResult", "RnnRule", "render_rnn_config", "run_bag"]
