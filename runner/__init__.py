"""The experiment runner: the only package that knows Hydra, OmegaConf and MLflow."""
