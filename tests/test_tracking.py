"""runner.tracking.client.open_run: a run always ends, with its status said in MLflow and in
the runner's `status` tag, whatever stops its body."""

from __future__ import annotations

import pytest

from runner.errors import Interrupted
from runner.tracking.client import client_for, open_experiment, open_run


@pytest.fixture
def tracked(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return client_for(uri), open_experiment(uri, "open-run")


def ended(client, run_id):
    run = client.get_run(run_id)
    return run.info.status, run.data.tags.get("status")


def test_an_interrupt_before_the_first_step_leaves_the_run_killed_and_tagged(tracked):
    client, experiment = tracked
    with pytest.raises(Interrupted), open_run(client, experiment, name="r") as run:
        raise Interrupted(15)
    assert ended(client, run.run_id) == ("KILLED", "killed")


def test_an_error_leaves_the_run_failed(tracked):
    client, experiment = tracked
    with pytest.raises(ValueError), open_run(client, experiment, name="r") as run:
        raise ValueError("boom")
    assert ended(client, run.run_id)[0] == "FAILED"


def test_an_interrupt_after_everything_is_recorded_leaves_it_finished(tracked):
    client, experiment = tracked
    with pytest.raises(KeyboardInterrupt), open_run(client, experiment, name="r") as run:
        run.completed = True
        raise KeyboardInterrupt
    assert ended(client, run.run_id) == ("FINISHED", None)


def test_experiments_are_created_with_the_training_kind(tracked):
    client, experiment = tracked
    tags = client.get_experiment(experiment).tags
    assert tags["mlflow.experimentKind"] == "custom_model_development"
