"""The package as a user installs it: a wheel (not editable) in a fresh virtual environment,
used from a folder that has nothing to do with this repository; and the report's imports."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ROOT

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
ENV["MLFLOW_DISABLE_TELEMETRY"] = "true"


def run(*cmd, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=ENV)
    assert proc.returncode == 0, (cmd, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from a copy of this repository; its dependencies
    come from the test environment's site-packages (a path, not an install: nothing of the
    editable install comes along)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__", "mlruns",
        "outputs", "multirun", "mlflow.db", ".pytest_cache"))
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
        "-w", tmp / "dist", source, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("gradlab-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                  cwd=tmp).stdout.strip()
    Path(purelib, "gradlab-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel,
        cwd=tmp)
    return venv


@pytest.mark.slow
def test_the_installed_wheel_runs_sweeps_and_reports_from_anywhere(installed, tmp_path):
    bin_ = installed / "bin"
    where = run(bin_ / "python", "-c", "import runner; print(runner.__file__)", cwd=tmp_path)
    assert str(installed) in where.stdout  # the wheel's copy, not this checkout
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run(bin_ / "gradlab", "objective=rosenbrock", "optimizer=adam", "steps=20",
        f"tracking.uri={uri}", cwd=tmp_path)
    run(bin_ / "gradlab", "-m", "hydra/launcher=vectorized", "optimizer.lr=0.01,0.1", "seed=1,2",
        "steps=20", f"tracking.uri={uri}", cwd=tmp_path)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("gradlab").experiment_id
    runs = client.search_runs([experiment])
    (parent,) = [r for r in runs if r.data.tags.get("role") == "sweep"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    single = [r for r in runs if r.info.run_name == "rosenbrock-autograd-adam steps=20"]
    assert len(children) == 4 and len(single) == 1 and len(runs) == 6
    assert {r.info.run_name for r in children} == {
        f"quad-autograd-sgd lr={lr} seed={seed} steps=20" for lr in (0.01, 0.1) for seed in (1, 2)}
    assert all(r.info.status == "FINISHED" for r in runs)
    assert single[0].data.params["optimizer._target_"] == "optimizers.adam.adam"
    report = run(bin_ / "python", "-m", "runner.report", "--uri", uri, "--parent",
                 parent.info.run_id, "--out", tmp_path / "report", cwd=tmp_path)
    assert "4 runs" in report.stdout and (tmp_path / "report" / "report.html").is_file()


def test_the_report_imports_neither_torch_nor_hydra(tmp_path):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "runner.report", "--help"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**ENV, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and "--parent" in proc.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "runner.report.build" in imported and "mlflow" in imported  # it did measure
    assert not {m for m in imported if m.split(".")[0] in ("torch", "hydra", "omegaconf")}
