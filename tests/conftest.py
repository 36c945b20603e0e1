"""Shared helpers: run the CLI as a user would, in a temporary folder, and read MLflow back."""

from __future__ import annotations

import atexit
import contextlib
import glob
import json
import os
import pty
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ.pop("MLFLOW_TRACKING_URI", None)
# the template new SQLite stores are copied from (runner.tracking.template), built once here
_CACHE = tempfile.mkdtemp(prefix="gradlab-cache-")
os.environ["GRADLAB_CACHE_DIR"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)
ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, cwd: Path, timeout: float = 300, module: str = "runner",
            env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Store:
    """A temporary SQLite tracking store and the helpers tests use to read it."""

    def __init__(self, folder: Path) -> None:
        from mlflow import MlflowClient

        self.folder = folder
        self.uri = f"sqlite:///{folder / 'mlflow.db'}"
        self.client = MlflowClient(tracking_uri=self.uri)

    def run(self, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        proc = run_cli(*args, f"tracking.uri={self.uri}", cwd=self.folder, **kw)
        if check:
            assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    def runs(self, experiment: str = "gradlab") -> list:
        exp = self.client.get_experiment_by_name(experiment)
        return [] if exp is None else self.client.search_runs([exp.experiment_id], max_results=5000)

    def only_run(self):
        (run,) = self.runs()
        return run

    def artifact_json(self, run_id: str, name: str = "result.json") -> dict:
        path = self.client.download_artifacts(run_id, name, str(self.folder))
        return json.loads(Path(path).read_text())

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in self.client.get_metric_history(run_id, key))


def start_cli(*args: str, cwd: Path, env: dict | None = None,
              output: int | None = None) -> subprocess.Popen:
    """The CLI in the background, in its own process group (to kill -9 it whole), writing
    its output to cwd/cli.log, or to the file descriptor `output`."""
    with contextlib.ExitStack() as files:
        if output is None:
            output = files.enter_context(open(cwd / "cli.log", "w")).fileno()
        return subprocess.Popen(
            [sys.executable, "-m", "runner", *args], cwd=cwd, stdout=output,
            stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


class Terminal:
    """The CLI in the background on a pseudo-terminal, as at a user's prompt (its progress
    bars drawn), in its own process group; what it writes is collected (`text`)."""

    def __init__(self, *args: str, cwd: Path, env: dict | None = None) -> None:
        master, tty = pty.openpty()
        self.proc = start_cli(*args, cwd=cwd, env=env, output=tty)
        os.close(tty)
        self.chunks: list[bytes] = []
        self.reader = threading.Thread(target=self._read, args=(master,), daemon=True)
        self.reader.start()

    def _read(self, fd: int) -> None:
        with contextlib.suppress(OSError):  # EIO once the last writer closes it
            while data := os.read(fd, 1 << 16):
                self.chunks.append(data)
        os.close(fd)

    def text(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc) -> None:
        """Whatever the test found: its process group killed, by the CLI's process id; then
        `text` holds all it wrote (read until its last writer closed the terminal)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=60)
        self.reader.join(timeout=30)


def wait_until(condition: Callable[[], bool], timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.5)


def postgres_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@contextlib.contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port; yields its database URI."""
    if not all(postgres_bin(b) for b in ("initdb", "pg_ctl", "createdb")):
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    # initdb refuses root: as root, run it as the postgres user, in a folder of its own under
    # /tmp (it cannot enter pytest's root-only tmp_path)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="gradlab-pg-"))
    if as_user:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    pg_ctl = [*as_user, postgres_bin("pg_ctl"), "-D", str(data)]
    try:
        subprocess.run([*as_user, postgres_bin("initdb"), "-D", str(data), "-U", "gradlab",
                        "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run([*pg_ctl, "-l", str(folder / "postgres.log"), "-w", "start", "-o",
                        f"-p {port} -h 127.0.0.1 -k {folder}"], check=True, capture_output=True)
        pid = int((data / "postmaster.pid").read_text().split()[0])
        try:
            subprocess.run([postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                            "gradlab", "mlflow"], check=True, capture_output=True)
            yield f"postgresql://gradlab@127.0.0.1:{port}/mlflow"
        finally:
            os.kill(pid, signal.SIGINT)  # PostgreSQL's "fast" shutdown
            wait_until(lambda: not (data / "postmaster.pid").exists(), timeout=60)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path)


class MlflowServer:
    """A real `mlflow server` (SQLite backend) on a free loopback port, stopped by its pid.
    `command` starts another one as a user types it (`mlflow ui`), told the port by
    MLFLOW_PORT."""

    def __init__(self, folder: Path, backend: str | None = None,
                 command: list[str] | None = None) -> None:
        import time
        import urllib.request

        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        backend = backend or f"sqlite:///{folder / 'server.db'}"
        self.log = open(folder / "server.log", "w")
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
                        "--port", str(self.port), "--backend-store-uri", backend,
                        "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
            cwd=folder, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "MLFLOW_PORT": str(self.port)},
        )
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.uri + "/health", timeout=2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("mlflow server did not start: " + (folder / "server.log").read_text()[-2000:])

    def api(self, path: str, body: dict | None = None) -> dict:
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.uri}/api/2.0/mlflow/{path}", data=data,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@pytest.fixture
def mlflow_server(tmp_path: Path):
    server = MlflowServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium, installed with apt-get where missing (the CI image is Debian)."""
    path = shutil.which("chromium")
    if path is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install "
                       "-y -qq --no-install-recommends chromium", shell=True,
                       capture_output=True, timeout=900)
        path = shutil.which("chromium")
    if path is None:
        pytest.skip("chromium is missing and apt-get could not install it (needs root, network)")
    return path
