"""Tracking: the only code that imports MLflow. Import the module you need (`client`, `runs`,
`sqlstore`, `pipeline`, `resume`, `history`, `files`; `context` and `helper` import no
MLflow); this package imports none of them, so that reading runs (the report) loads neither
torch nor Hydra."""
