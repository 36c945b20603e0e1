"""Sweeps: Hydra callbacks (the parent run, its summary, progress, the jobs' ledger), job
configs composed once per group choice, and the vectorized launcher's grouping and batching."""
