"""The README's commands as a user types them, each in a fresh folder (the default store is
./mlflow.db there), checked against what their comments say and the values the demos they
reproduce printed (../shared/seeds)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ROOT, MlflowServer
from tests.test_objectives import FLUX_ITERATES

pytestmark = pytest.mark.slow
README = (ROOT / "README.md").read_text()


def bash_block(after: str) -> list[str]:
    """The lines of the first ```bash block after the line `after` of the README."""
    text = README.split(after, 1)[1]
    return re.search(r"```bash\n(.*?)```", text, re.DOTALL).group(1).splitlines()


def as_written(command: str, cwd: Path) -> subprocess.CompletedProcess:
    """A `python -m ...` line of the README, run by this interpreter in cwd."""
    words = shlex.split(command)
    assert words[0] == "python", command
    proc = subprocess.run([sys.executable, *words[1:]], cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-2000:]}"
    return proc


def test_the_quick_start_runs_as_written(tmp_path):
    """The "Running experiments" block: one run, a sweep and `mlflow ui`, as written, and
    what their comments say."""
    (one, said_one), (sweep, said_sweep), (ui, _) = [
        line.split("#", 1) for line in bash_block("## Running experiments")]
    printed = float(re.search(r"final loss (\S+),", as_written(one, tmp_path).stdout).group(1))
    assert f"{printed:.1e}" == re.search(r"f = (\S+)", said_one).group(1)  # to its digits
    runs = int(re.search(r"(\d+) runs", said_sweep).group(1))
    assert f": {runs} runs (" in as_written(sweep, tmp_path).stdout

    from mlflow import MlflowClient

    stored = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").search_runs(["1"])
    assert len(stored) == 1 + runs + 1  # the run, the sweep's runs and its parent
    assert ui.split() == ["mlflow", "ui"]
    server = MlflowServer(tmp_path, command=[str(Path(sys.executable).parent / "mlflow"), "ui"])
    try:
        served = server.api("runs/search", {"experiment_ids": ["1"], "max_results": 100})
    finally:
        server.stop()
    assert {r["info"]["run_id"] for r in served["runs"]} == {r.info.run_id for r in stored}


def test_the_demos_print_their_reference_values(tmp_path):
    """The README's demo commands, as written, end where the demos they reproduce ended."""
    lines = bash_block("The demos this project grew from, as commands:")
    commands = dict(zip(lines[0::2], lines[1::2]))  # comment line -> command line
    finals = {}
    for comment, command in commands.items():
        proc = as_written(command, tmp_path)
        run_id = re.search(r"run ([0-9a-f]{32})", proc.stdout).group(1)
        result = next((tmp_path / "mlruns").glob(f"*/{run_id}/artifacts/result.json"))
        finals[comment.split(":")[0].lstrip("# ")] = json.loads(result.read_text())
    assert set(finals) == {"Flux/Zygote", "the NumPy textbook", "the PyTorch memo"}

    # Flux/Zygote (seeds/000) printed its ten iterates: the last, to the last digit
    assert finals["Flux/Zygote"]["x_final"] == pytest.approx(FLUX_ITERATES[-1], rel=0, abs=1e-16)
    # the textbook (seeds/003) printed array([-6.11110793e-10,  8.14814391e-10])
    assert finals["the NumPy textbook"]["x_final"] == pytest.approx(
        [-6.11110793e-10, 8.14814391e-10], rel=1e-8)
    # the PyTorch memo (seeds/002) fits y = -x + 1 + 0.1ε: Adam reaches the least-squares line
    # (numpy's polyfit on the same draws) and the loss ‖y − ŷ‖ its residual
    gen = torch.Generator().manual_seed(0)
    xs = (2 * torch.rand(100, generator=gen, dtype=torch.float64)).numpy()
    ys = -xs + 1 + 0.1 * torch.randn(100, generator=gen, dtype=torch.float64).numpy()
    line = np.polyfit(xs, ys, 1)
    memo = finals["the PyTorch memo"]
    assert memo["x_final"] == pytest.approx(line, rel=0, abs=1e-12)
    assert memo["final_loss"] == pytest.approx(np.linalg.norm(np.polyval(line, xs) - ys), rel=1e-12)
