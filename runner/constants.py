"""The words runs are recorded with and read back by: outcomes, tags, exit codes, keys.

Plain constants, no imports: the loop, tracking, sweeps and the report all use these.
"""

# A run's outcome: the `status` tag, and what a job returns.
CONVERGED = "converged"  # ‖∇f‖ < tol
MAX_STEPS = "max_steps"  # every step taken
DIVERGED = "diverged"  # non-finite, or |f| above divergence.max_loss
STALLED = "stalled"  # f did not improve by stall.rtol for stall.steps steps
PRUNED = "pruned"  # stopped early by an Optuna pruner (hydra/sweeper=optuna)
FAILED = "failed"  # an error, or a configuration that could not run
KILLED = "killed"  # interrupted (SIGINT, SIGTERM)
# outcomes that are results: resume does not run these configurations again
FINISHED = (CONVERGED, MAX_STEPS, DIVERGED, STALLED, PRUNED)
# outcomes without a usable final value
BAD = (DIVERGED, FAILED)

# MLflow's terminal run status for each outcome (the others end FINISHED)
MLFLOW_STATUS = {KILLED: "KILLED", FAILED: "FAILED"}

# Tags
STATUS_TAG = "status"
ERROR_TAG = "error"
CONFIG_HASH_TAG = "config_hash"
OVERRIDES_TAG = "overrides"
COMMAND_TAG = "command"  # a sweep's command line, launcher and sweeper choices included
SWEEP_ID_TAG = "sweep_id"
ROLE_TAG = "role"  # `sweep` on a sweep's parent run
SWEEP_ROLE = "sweep"
TRIAL_TAG = "optuna.trial"  # the Optuna trial a run is, and its study
STUDY_TAG = "optuna.study"
BEST_RUN_TAG = "best_run_id"
PARENT_TAG = "mlflow.parentRunId"
SOURCE_NAME_TAG = "mlflow.source.name"
GIT_COMMIT_TAG = "mlflow.source.git.commit"
USER_TAG = "mlflow.user"

# Config groups a run is named and tagged after
GROUPS = ("objective", "gradient", "optimizer")
# Config keys that do not change a run's result (left out of its hash)
UNHASHED = ("tracking", "artifacts", "hydra", "resume", "sweep_metric")

# Exit codes
EXIT_FAILED = 1  # a run failed
EXIT_USAGE = 2  # bad input: nothing was run
EXIT_INCOMPLETE = 3  # a sweep ended with configurations that have no complete run
EXIT_SIGNAL = 128  # + the signal's number: interrupted

# Environment variables through which a sweep's launching process talks to its jobs
SWEEP_ENV = "GRADLAB_SWEEP"  # the sweep's tracking ids (JSON)
PROGRESS_ENV = "GRADLAB_PROGRESS"  # the sweep's total, start time and counter file (JSON)
