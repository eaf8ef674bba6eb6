"""mcuforge from Python: one call per step, the same library the command line prints.

    from mcuforge import api

    model = api.load("kws.tflite")                       # read once: graph, TFLM bytes, BNN parts
    v = api.validate(model, "netduinoplus2", samples=20)  # generate, build, flash, compare with TFLM
    print(v.summary())
    p = api.profile(model, "mps2-an386")                   # per-layer cycles on the board

    project = api.generate(model, "uno", "fw/")            # the C99 project (plain make)
    api.build(project.path)                                # flash/RAM use from the ELF
    with api.open_target(model, "netduinoplus2") as t:     # generate -> build -> flash -> link
        outputs, cycles = t.run([x])

    api.learn("bnn.keras", "data/", rule="lwf", new=["zero"])   # the board learns new keywords

Each name is imported from the module that owns it (this file holds no logic).
"""
from __future__ import annotations

from .boards import list_boards, load_board
from .build.make import build
from .project import generate
from .flash import open_session
from .learning.keywords import learn
from .model.loader import Model, load
from .profiling import profile
from .target import Target, open_target
from .validation import Validation, make_inputs, validate

__all__ = ["Model", "Target", "Validation", "build", "generate", "learn", "list_boards", "load", "load_board",
           "make_inputs", "open_session", "open_target", "profile", "validate"]
