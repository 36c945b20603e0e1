"""The experiment runner: the only package that knows Hydra, OmegaConf and MLflow.

A map, in the order a run flows through it:

- `app`        the command line (`python -m runner`, `gradlab`): Hydra's entry point
- `config`     where the YAML lives (`conf/`, shipped inside the package), its typed schema
- `spec`       RunSpec: one configuration, computed once from the composed config
- `build`      objective, gradient method and optimizer built from a RunSpec's `_target_`s
- `loop`       the run loop (plain torch); `results`: a run's Record and a job's Outcome
- `job`        one configuration run alone, its run started and ended however it stops
- `artifacts`, `plots`, `headless`   a run's files and pictures (drawn without torch)
- `console`    every line printed while runs and sweeps go
- `constants`, `errors`   statuses, tags, exit codes; errors phrased for the user
- `tracking/`  the only code that imports MLflow: the client, run logging (made by a
               forked helper process for a single run), the bulk SQL writer, the pipeline
               that logs a sweep's rows, resume, metric histories
- `sweep/`     Hydra callbacks (parent run, summary, progress), job composition, the
               vectorised launcher's grouping and batching
- `report/`    the sweep report; reads MLflow through `tracking/` only, needs no torch
"""
