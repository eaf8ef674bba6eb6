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
# Classes are named where they are published (the package's export where it has one).
DOCUMENTED = {
    "mcuforge.errors.McuforgeError": 1,
    "mcuforge.errors.UsageError": 2,
    "mcuforge.boards.BoardError": 2,
    "mcuforge.results.ResultsError": 2,
    "mcuforge.project.OutputDirError": 2,
    "mcuforge.learning.CheckpointError": 2,
    "mcuforge.learning.LearningSessionError": 2,
    "mcuforge.resources.ResourceError": 2,
    "mcuforge.model.ModelError": 3,
    "mcuforge.model.keras_rnn.RnnModelError": 3,
    "mcuforge.model.UnsupportedOpError": 3,
    "mcuforge.model.keras_bnn.BnnFoldError": 3,
    "mcuforge.plan.budget.BudgetError": 3,
    "mcuforge.train.adapt.AdaptError": 2,
    "mcuforge.train.adapt.MethodUnsupported": 3,
    "mcuforge.train.imprint.ImprintError": 2,  # adapt turns it into AdaptError / MethodUnsupported
    "mcuforge.train.checkpoint.CheckpointError": 2,
    "mcuforge.build.BuildError": 4,
    "mcuforge.project.ProjectError": 4,
    "mcuforge.codegen.platform.PlatformError": 4,
    "mcuforge.flash.FlashError": 5,
    "mcuforge.link.LinkError": 5,
    "mcuforge.rnn.client.RnnLinkError": 5,
    "mcuforge.link.LinkTimeout": 5,
    "mcuforge.link.DeviceFault": 5,
    "mcuforge.link.DeviceOverflow": 5,
    "mcuforge.link.BoardReset": 5,
    "mcuforge.link.ReplyLost": 5,
    "mcuforge.link.FirmwareMismatch": 5,
    "mcuforge.link.ProtocolError": 5,
    "mcuforge.frontend.FrontendError": 5,
    "mcuforge.learning.LearningError": 5,
    "mcuforge.learning.session.StateLost": 5,
    "mcuforge.learning.session.BoardLost": 5,
    "mcuforge.federated.deploy.DeploymentError": 5,
    "mcuforge.fleet.FleetError": 5,
}


def _resolve(name: str) -> type:
    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _mcuforge_exception_classes() -> set[type]:
    found = set()
    for mod in pkgutil.walk_packages(mcuforge.__path__, "mcuforge."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__.startswith("mcuforge."):
                found.add(obj)
    return found


CLASSES = _mcuforge_exception_classes()


def test_every_exception_class_has_a_documented_code():
    documented = {_resolve(name) for name in DOCUMENTED}
    missing = sorted(f"{c.__module__}.{c.__qualname__}" for c in CLASSES - documented)
    assert missing == [], "new exception classes need a row in DOCUMENTED"


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_exit_code_of(name):
    cls = _resolve(name)
    assert exit_code_for(cls.__new__(cls)) == DOCUMENTED[name]


def test_outside_classes_and_bugs():
    assert exit_code_for(serial.SerialException("port gone")) == 5
    assert exit_code_for(FileNotFoundError("x.npy")) == 2
    assert exit_code_for(PermissionError("read-only folder")) == 2
    assert exit_code_for(KeyboardInterrupt()) == 130
    assert exit_code_for(TypeError("a bug")) is None  # shown with its traceback
    assert exit_code_for(KeyError("a bug")) is None
    # Every row names a real class (a typo would silently never match).
    for name in EXIT_CODES:
        assert isinstance(_resolve(name), type), name
