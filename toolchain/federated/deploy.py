"""Flower's deployment on loopback: a SuperLink and one SuperNode per board, started and stopped
by mcuforge, and a run of the app started with ``flwr run``.

Every process gets free ports picked here (parallel deployments do not collide), its own
process group (stopping it stops the ServerApp/ClientApp subprocesses and their emulators too)
and a log file; ``FLWR_HOME`` points at the deployment's own folder, so the user's ~/.flwr is not
touched. ``Deployment`` is a context manager: whatever ends the block (an error, Ctrl-C), every
process it started is stopped. Across machines the same commands run by hand (README)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

APP_DIR = Path(__file__).parent / "app"


class DeploymentError(RuntimeError):
    """A Flower process did not start, or the run failed (its log named)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def node_config(values: dict) -> str:
    """A --node-config string: strings quoted, numbers as they are."""
    return " ".join(f'{k}={v}' if isinstance(v, (int, float)) else f'{k}="{v}"' for k, v in values.items())


@dataclass
class Deployment:
    workdir: Path
    procs: list = field(default_factory=list)

    def __post_init__(self):
        self.workdir = Path(self.workdir).resolve()  # FLWR_HOME must not depend on a process's cwd
        self.home = self.workdir / "flwr-home"
        self.home.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "FLWR_HOME": str(self.home),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.port = None

    # ---- processes ---------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self.env, cwd=self.workdir, start_new_session=True)
        log.close()
        proc.name = name
        self.procs.append(proc)
        return proc

    def start_superlink(self) -> None:
        # Flower 1.42 serves its Runtime, Control and Fleet APIs on the one HTTP port
        self.port = free_port()
        self._start("superlink", [_bin("flower-superlink"), "--insecure", "--isolation", "subprocess",
                                  "--host", "127.0.0.1", "--port", str(self.port)])
        self._wait_port(self.port, "superlink")
        (self.home / "config.toml").write_text(
            '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
            f'address = "127.0.0.1:{self.port}"\ninsecure = true\n')

    def start_supernode(self, index: int, config: dict) -> subprocess.Popen:
        return self._start(f"supernode-{index}", [
            _bin("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{self.port}",
            "--host", "127.0.0.1", "--port", str(free_port()), "--node-config", node_config(config)])

    def _wait_port(self, port: int, name: str, timeout: float = 60.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for p in self.procs:
                if p.poll() is not None:
                    raise DeploymentError(f"{p.name} exited with {p.returncode}; see {self.workdir / (p.name + '.log')}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise DeploymentError(f"{name} did not listen on port {port} within {timeout:.0f} s")

    def run(self, run_config: dict, timeout: float = 3600.0, app_dir=APP_DIR) -> None:
        """``flwr run`` of mcuforge's app (or the Flower app in ``app_dir``) with ``run_config``,
        waiting until the run ends."""
        argv = [_bin("flwr"), "run", str(app_dir), "local", "--stream",
                "--run-config", " ".join(f"{k}={_toml(v)}" for k, v in run_config.items())]
        with open(self.workdir / "flwr-run.log", "wb") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir,
                                    start_new_session=True)
            proc.name = "flwr-run"
            self.procs.append(proc)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                raise DeploymentError(f"the Flower run did not end within {timeout:.0f} s") from None
        if rc != 0:
            raise DeploymentError(f"flwr run failed (exit {rc}); see {self.workdir / 'flwr-run.log'}")

    def stop(self) -> None:
        """Every process group this deployment started: SIGTERM, then SIGKILL after 5 s."""
        for p in reversed(self.procs):
            _signal_group(p, signal.SIGTERM)
        end = time.monotonic() + 5
        for p in reversed(self.procs):
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _signal_group(p, signal.SIGKILL)
            p.wait()
        self.procs.clear()
        self._stop_detached()

    def processes(self) -> list[int]:
        """Live processes carrying this deployment's FLWR_HOME: everything it started and what
        those started (ServerApp, ClientApps, QEMU), whoever their parent is now. Linux's /proc;
        elsewhere none are seen."""
        mark = f"FLWR_HOME={self.home}".encode()
        pids = []
        for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        if mark in f.read().split(b"\0"):
                            pids.append(int(entry))
                except OSError:  # gone, or not ours to read
                    continue
        return pids

    def _stop_detached(self, grace: float = 5.0) -> None:
        """Flower starts its SuperExecs in sessions of their own (they exit on their own a moment
        after their parent); stop any still running so none outlives the deployment."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = self.processes()
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            end = time.monotonic() + grace
            while pids and time.monotonic() < end:
                time.sleep(0.1)
                pids = self.processes()
            if not pids:
                return

    def __enter__(self) -> "Deployment":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _signal_group(proc: subprocess.Popen, sig) -> None:
    try:
        os.killpg(proc.pid, sig)  # the process and its ServerApp/ClientApp/emulator children
    except (ProcessLookupError, PermissionError):
        pass


def _toml(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["APP_DIR", "Deployment", "DeploymentError", "free_port", "node_config"]
