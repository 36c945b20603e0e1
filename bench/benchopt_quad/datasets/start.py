"""Starting points: x0 = torch.randn(2) from torch.Generator().manual_seed(seed), float64,
exactly as the runner's ``seed=`` does; 100 seeds (0..99)."""

import torch
from benchopt import BaseDataset


class Dataset(BaseDataset):
    name = "start"
    requirements = ["pip::torch"]
    parameters = {"seed": list(range(100))}
    test_parameters = {"seed": [0]}

    def get_data(self):
        gen = torch.Generator().manual_seed(self.seed)
        return {"x0": torch.randn(2, generator=gen, dtype=torch.float64)}
