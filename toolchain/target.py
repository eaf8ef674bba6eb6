"""A model running on a board: generate -> build -> flash -> open the link, as one context manager.

    with open_target("kws.tflite", "netduinoplus2") as target:
        outputs, cycles = target.run([x])

Each verb is its own module (codegen.generate, build.make, flash, link.client); this only chains them.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .codegen.generate import Project, generate


@dataclass
class Target:
    project: Project
    build: object  # mcuforge.build.make.BuildResult
    session: object  # mcuforge.flash session (emulator or real board)
    link: object  # mcuforge.link.client.Link
    hello: object
    _tmp: object = field(default=None, repr=False)

    @property
    def cycles_kind(self) -> str:
        return self.link.cycles_kind

    def run(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """Write inputs, invoke, read outputs. Returns (outputs shaped as the model's, cycles)."""
        outs, cycles = self.link.run(inputs)
        shaped = []
        for arr, info in zip(outs, self.project.manifest["outputs"]):
            shaped.append(np.asarray(arr).view(np.dtype(info["dtype"])).reshape(info["shape"]))
        return shaped, cycles

    def profile(self):
        return self.link.profile()

    def close(self) -> None:
        try:
            self.link.close()
        finally:
            self.session.close()
            if self._tmp is not None:
                self._tmp.cleanup()

    def __enter__(self) -> "Target":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_target(model, board: str = "netduinoplus2", workdir=None, name: str | None = None,
                method: str | None = None, port: str | None = None, progress=None) -> Target:
    """Generate, build and flash ``model`` for ``board`` and return a connected Target."""
    from .build.make import build
    from .flash import open_session
    from .link.client import Link

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="mcuforge-")
        workdir = tmp.name
    step = progress or (lambda msg: None)
    step("generate")
    project = generate(model, board, Path(workdir), name=name)
    step("build")
    result = build(project.path)
    step("flash")
    session = open_session(project.path, board=project.board, method=method, port=port)
    try:
        link = Link(session.url)
        hello = link.hello()
        link.expect_firmware(project.firmware_hash)
    except BaseException:
        session.close()
        if tmp is not None:
            tmp.cleanup()
        raise
    return Target(project, result, session, link, hello, tmp)
