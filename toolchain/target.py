"""A model running on a board: generate -> build -> flash -> open the link, as one context manager.

    with open_target("kws.tflite", "netduinoplus2") as target:
        outputs, cycles = target.run([x])

Each verb is its own module (project, build.make, flash, link.client); this only chains them.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .project import Project, generate


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
        """"hardware" (DWT cycles), "emulated-instructions" (QEMU with a fixed -icount) or
        "simulated-cycles" (simavr: clock cycles of the simulated part)."""
        scale = self.link.cycle_scale
        return "hardware" if not scale.emulated else scale.unit

    def cycles(self, ticks: int) -> int:
        return int(round(self.link.cycle_scale.convert(ticks)))

    def run(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
        """Write inputs, invoke, read outputs. Returns (outputs shaped as the model's, cycles)."""
        outs, ticks = self.link.run(inputs)
        return self._shaped(outs), self.cycles(ticks)

    def profile(self) -> list[dict]:
        """Per-layer rows of the last invoke: {"op", "cycles"} (cycles in this target's cycles_kind)."""
        return self._layer_rows(self.link.profile())

    def run_profiled(self, inputs: list[np.ndarray]) -> tuple[list[np.ndarray], int, list[dict]]:
        """``run`` and ``profile`` of that invoke, the sample run again if the board resets between."""
        outs, ticks, layers = self.link.run_profiled(inputs)
        return self._shaped(outs), self.cycles(ticks), self._layer_rows(layers)

    def _layer_rows(self, layers) -> list[dict]:
        return [dict(op=op, cycles=self.cycles(t)) for op, t in layers]

    def _shaped(self, outs) -> list[np.ndarray]:
        return [np.asarray(arr).reshape(info["shape"]) for arr, info in zip(outs, self._outputs)]

    @property
    def _outputs(self) -> list[dict]:
        if "_out_info" not in self.__dict__:
            self.__dict__["_out_info"] = self.project.manifest["outputs"]
        return self.__dict__["_out_info"]

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
                method: str | None = None, port: str | None = None, progress=None,
                project: Project | None = None, flash_options: dict | None = None, audio: bool = False) -> Target:
    """Generate, build and flash ``model`` for ``board`` and return a connected Target; with
    ``project`` (``project.load_project``), build and flash that one as it is.
    ``flash_options`` go to the flash backend (e.g. ``via_bootloader=True`` for simavr);
    ``audio``: a keyword RNN fed by the on-device front end (``generate(audio=True)``)."""
    from .build.make import build

    tmp = None
    if workdir is None and project is None:
        tmp = tempfile.TemporaryDirectory(prefix="mcuforge-")
        workdir = tmp.name
    step = progress or (lambda msg: None)
    step("generate")
    if project is None:
        project = generate(model, board, Path(workdir), name=name, audio=audio)
    step("build")
    result = build(project.path)
    step("flash")
    try:
        return flash_target(project, result, method=method, port=port, flash_options=flash_options, tmp=tmp)
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise


def flash_target(project: Project, build_result, method: str | None = None, port: str | None = None,
                 flash_options: dict | None = None, tmp=None) -> Target:
    """Flash the built ``project`` (``build_result``: its BuildResult) onto its board and return
    a connected Target; a fleet calls it once per board, and again to restart a board."""
    from .flash import open_session

    options = {**({"port": port} if port else {}), **(flash_options or {})}
    session = open_session(project.path, board=project.board, method=method, **options)
    try:
        link = session.link(expected_hash=project.firmware_hash)  # refuses other firmware
        hello = link.hello()
    except BaseException:
        session.close()
        raise
    return Target(project, build_result, session, link, hello, tmp)
