"""An Optuna search on the page (hydra/sweeper=optuna): the optimization history, from the
trials' runs, and the parameters' importances, from the study where its storage can be
opened (a study kept in memory has none)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from runner.constants import PRUNED, TRIAL_TAG
from runner.forked import Later, forked
from runner.headless import pyplot
from runner.report.data import RunData
from runner.report.sweeps import Sweep

HELP = {
    "history": "Each trial's value (the study's first metric) in the order Optuna asked for "
               "them; the line is the best so far. Pruned trials (✕) are drawn at their last "
               "reported loss; a diverged or failed trial is left out.",
    "importance": "How much of the variation of the value each searched parameter explains "
                  "(Optuna's fANOVA importance over the study's complete trials: 16 trees, "
                  "seed 0).",
}


def _study(sweeps: Sequence[Sweep]) -> Sweep | None:
    return next((s for s in sweeps if s.params.get("optuna.study")), None)


# studies whose importances a process forked while the trials ran is ready to compute
_READY: dict[tuple[str, str], Later] = {}


def prepare_importances(name: str, storage: str) -> None:
    """Fork now the process that computes the study's importances when its report asks
    (`importances_later`): it imports what fANOVA needs (scikit-learn: about 1.5 s) while the
    trials run, instead of while the report waits for it."""
    if storage and storage != "memory" and (name, storage) not in _READY:
        _READY[name, storage] = forked(importances, name, storage, default={},
                                       prepare=_import_fanova)


def importances_later(sweeps: Sequence[Sweep]) -> Callable[[], dict[str, float]]:
    """The study's importances (`importances`) computed in a forked process from now on, while
    the report reads and draws the runs (fANOVA, with scikit-learn's import, takes as long);
    by the process `prepare_importances` made ready, where the sweep did."""
    study = _study(sweeps)
    storage = study.params.get("optuna.storage") if study is not None else None
    if not storage or storage == "memory":  # a study kept in memory is gone: nothing to read
        return dict
    name = study.params["optuna.study"]
    ready = _READY.pop((name, storage), None)
    if ready is not None:
        ready.release()
        return ready
    return forked(importances, name, storage, default={})


def _import_fanova() -> None:
    import optuna.importance  # noqa: F401 - its fANOVA imports scikit-learn's forests


def figures(runs: list[RunData], sweeps: Sequence[Sweep],
            importance: dict[str, float]) -> dict[str, object]:
    """{"history": figure, "importance": figure}, each where it can be drawn."""
    study = _study(sweeps)
    trials = [r for r in runs if TRIAL_TAG in r.tags]
    if study is None or not trials:
        return {}
    metric = study.params.get("optuna.metrics", "final_loss").split(",")[0]
    maximize = study.params.get("optuna.direction", "minimize").startswith("maximize")
    out = {"history": history(trials, metric, maximize)}
    if importance:
        out["importance"] = importance_figure(importance)
    return out


def history(trials: list[RunData], metric: str, maximize: bool):
    pairs = sorted((int(r.tags[TRIAL_TAG]), r.metrics.get(metric, math.nan), r.status)
                   for r in trials)
    number = np.array([p[0] for p in pairs])
    value = np.array([p[1] for p in pairs], dtype=float)
    pruned = np.array([p[2] == PRUNED for p in pairs])
    usable = np.isfinite(value)
    fig, ax = pyplot().subplots(figsize=(7, 3.6), layout="constrained")
    done = usable & ~pruned
    ax.plot(number[done], value[done], "o", ms=4, color="C0", label="trial")
    if (usable & pruned).any():
        ax.plot(number[usable & pruned], value[usable & pruned], "x", ms=5, color="0.55",
                label="pruned")
    if done.any():
        running = np.maximum.accumulate if maximize else np.minimum.accumulate
        ax.step(number[done], running(value[done]), where="post", color="C3", label="best so far")
    if usable.any() and (value[usable] > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend(loc="best", fontsize=8)
    return fig


def importances(name: str, storage: str) -> dict[str, float]:
    """fANOVA importances of the study's parameters; {} where it cannot be read or has
    fewer than two complete trials."""
    try:
        import optuna

        from runner.sweep.study import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.load_study(study_name=name, storage=open_storage(storage, ""))
        # 16 trees, not Optuna's 64: 0.4 s instead of 2.7 s for 200 trials, the
        # importances within 0.01 of 64 trees' on the bench's study
        evaluator = optuna.importance.FanovaImportanceEvaluator(n_trees=16, seed=0)
        found = optuna.importance.get_param_importances(study, evaluator=evaluator)
        return {k: float(v) for k, v in found.items()}
    except Exception:  # noqa: BLE001 - no importances then; the history still stands
        return {}


def importance_figure(importance: dict[str, float]):
    names = list(importance)[::-1]
    fig, ax = pyplot().subplots(figsize=(7, 0.5 + 0.45 * len(names)), layout="constrained")
    ax.barh(names, [importance[n] for n in names], color="C0")
    ax.set_xlabel("importance")
    ax.set_xlim(0, 1)
    return fig
