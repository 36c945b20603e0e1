"""The MLflow UI, driven in headless Chromium (Playwright) against a real `mlflow server` on
loopback, after a 12-run sweep: the links the runner prints open the model-training pages
(the runs table, not MLflow 3.17's GenAI overview), the sweep's children are listed under
their parent with distinct names, and a run's page charts `lr` and `evaluations`.

Screenshots are kept in the test's temporary folder (pytest keeps the last three sessions'
folders; each path is printed, `pytest -s` shows them)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient

from runner.tracking import history
from tests.conftest import MlflowServer, run_cli
from tests.test_report import colourful

playwright = pytest.importorskip("playwright.sync_api")

AXES = ("optimizer=sgd,momentum,adam", "optimizer.lr=0.01,0.3", "seed=0,1")  # 12 runs
LOAD_MS = 90_000  # a single-page app on a loaded 2-core machine


@pytest.fixture
def browser(chromium):
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


def shot(page, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


@pytest.mark.slow
def test_a_sweep_opens_on_its_runs_with_children_under_the_parent(browser, tmp_path):
    server = MlflowServer(tmp_path)
    try:
        sweep = run_cli("-m", *AXES, "schedule=exponential", "steps=60",
                        f"tracking.uri={server.uri}", cwd=tmp_path)
        assert sweep.returncode == 0, sweep.stderr
        assert "View run" not in sweep.stdout  # MLflow's links open its GenAI pages
        (link,) = re.findall(r"^mlflow: (\S+)$", sweep.stdout, re.MULTILINE)
        client = MlflowClient(tracking_uri=server.uri)
        experiment = client.get_experiment_by_name("gradlab").experiment_id
        runs = client.search_runs([experiment])
        parent = next(r for r in runs if r.data.tags.get("role") == "sweep")
        children = [r for r in runs if r is not parent]
        names = [r.info.run_name for r in children]
        assert len(children) == 12 and len(set(names)) == 12
        # the histories over HTTP, in bulk, are those read run by run
        ids = [r.info.run_id for r in children]
        rest = history.read(client, ids, "loss", "rest")
        one_by_one = history.read(client, ids, "loss", "per_run")
        assert all(np.array_equal(rest[i].values, one_by_one[i].values) for i in ids)

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        # the experiment, as the README's links open it: the runs table
        page.goto(f"{server.uri}/#/experiments/{experiment}?workflowType=machine_learning")
        page.get_by_text(parent.info.run_name).first.wait_for(timeout=LOAD_MS)
        text = page.inner_text("body")
        assert "Detect issues" not in text and "Traces\n0" not in text
        assert "13 matching runs" in text
        shot(page, tmp_path, "experiment")
        # the sweep's own link: its runs alone, its axes and results as columns
        page.goto(link)
        page.get_by_text(parent.info.run_name).first.wait_for(timeout=LOAD_MS)
        page.locator("button[data-component-id$='runnamecellrenderer.tsx_46']").first.click()
        page.get_by_text(names[0]).first.wait_for(timeout=LOAD_MS)
        rows = [page.locator("[role=row]").nth(i).inner_text()
                for i in range(page.locator("[role=row]").count())]
        listed = [row for row in rows if parent.info.run_name in row or any(
            f"\n{name}\n" in f"{row}\n" for name in names)]
        assert parent.info.run_name in listed[0] and len(listed) == 13  # the parent, then 12
        assert all(any(f"\n{name}\n" in f"{row}\n" for row in listed[1:]) for name in names)
        header = next(row for row in rows if "final_loss" in row)
        assert all(column in header for column in ("optimizer.lr", "seed", "optimizer"))
        assert colourful(shot(page, tmp_path, "sweep-runs"))
        # a run's page: the model-training breadcrumb, and the lr and evaluation histories
        child = children[0]
        page.set_viewport_size({"width": 1600, "height": 3200})  # every chart drawn at once
        page.goto(f"{server.uri}/#/experiments/{experiment}/runs/{child.info.run_id}/"
                  "model-metrics?workflowType=machine_learning")
        page.get_by_text("log10_suboptimality").first.wait_for(timeout=LOAD_MS)
        page.wait_for_timeout(2000)  # the charts draw after their titles
        text = page.inner_text("body")
        assert "Evaluations" not in text.split(child.info.run_name)[0]  # the breadcrumb
        charts = {"lr", "evaluations", "log10_suboptimality", "loss", "grad_norm"}
        assert charts <= set(text.split("\n"))
        assert page.locator(".js-plotly-plot").count() >= len(charts)
        assert colourful(shot(page, tmp_path, "run-metrics"))
        lr = [m.value for m in client.get_metric_history(child.info.run_id, "lr")]
        assert len(lr) == 61 and lr[-1] == pytest.approx(lr[0] * 0.99**60, rel=1e-12)
    finally:
        server.stop()
