"""Every exception class mcuforge can raise maps to the exit code the README documents for its kind."""
from __future__ import annotations

import importlib
import pkgutil

import pytest
import serial

import mcuforge
from mcuforge.errors import EXIT_CODES, exit_code_for

# README: 0 ok, 1 check failed, 2 usage, 3 model, 4 build, 5 flash/serial link, 130 interrupted.
# Written from the documentation, not from errors.EXIT_CODES: a class added without a decision fails.
DOCUMENTED = {
    "mcuforge.errors.McuforgeError": 1,
    "mcuforge.errors.UsageError": 2,
    "mcuforge.boards.BoardError": 2,
    "mcuforge.results.store.ResultsError": 2,
    "mcuforge.codegen.generate.OutputDirError": 2,
    "mcuforge.learning.checkpoint.CheckpointError": 2,
    "mcuforge.learning.session.LearningSessionError": 2,
    "mcuforge.resources.ResourceError": 2,
    "mcuforge.model.errors.ModelError": 3,
    "mcuforge.model.errors.UnsupportedOpError": 3,
    "mcuforge.model.keras_bnn.BnnFoldError": 3,
    "mcuforge.plan.budget.BudgetError": 3,
    "mcuforge.build.make.BuildError": 4,
    "mcuforge.build.project.ProjectError": 4,
    "mcuforge.flash.base.FlashError": 5,
    "mcuforge.link.client.LinkError": 5,
    "mcuforge.link.client.LinkTimeout": 5,
    "mcuforge.link.client.DeviceFault": 5,
    "mcuforge.link.client.FirmwareMismatch": 5,
    "mcuforge.link.protocol.ProtocolError": 5,
    "mcuforge.frontend.client.FrontendError": 5,
    "mcuforge.learning.client.LearningError": 5,
    "mcuforge.learning.session.StateLost": 5,
    "mcuforge.learning.session.BoardLost": 5,
}


def _mcuforge_exception_classes() -> dict[str, type]:
    found = {}
    for mod in pkgutil.walk_packages(mcuforge.__path__, "mcuforge."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__.startswith("mcuforge."):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found


CLASSES = _mcuforge_exception_classes()


def test_every_exception_class_has_a_documented_code():
    assert set(CLASSES) - set(DOCUMENTED) == set(), "new exception classes need a row in DOCUMENTED"
    assert set(DOCUMENTED) - set(CLASSES) == set(), "DOCUMENTED names classes that no longer exist"


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_exit_code_of(name):
    cls = CLASSES[name]
    assert exit_code_for(cls.__new__(cls)) == DOCUMENTED[name]


def test_outside_classes_and_bugs():
    assert exit_code_for(serial.SerialException("port gone")) == 5
    assert exit_code_for(FileNotFoundError("x.npy")) == 2
    assert exit_code_for(PermissionError("read-only folder")) == 2
    assert exit_code_for(KeyboardInterrupt()) == 130
    assert exit_code_for(TypeError("a bug")) is None  # shown with its traceback
    assert exit_code_for(KeyError("a bug")) is None
    # The table names real classes (a typo in a row would silently never match).
    for name in EXIT_CODES:
        if not name.startswith("mcuforge."):
            module, _, qual = name.rpartition(".")
            assert isinstance(getattr(importlib.import_module(module), qual), type), name
        else:
            assert name in CLASSES, name
