"""The one private OmegaConf API the runner uses, fenced here.

`OmegaConf.to_yaml` needs a DictConfig, and building one per job costs more than the job in a
large sweep. Its YAML dumper (which quotes strings that would read back as other types) has
no public accessor, so config.yaml is dumped with it directly, piece by piece.
"""

from omegaconf._utils import get_omega_conf_dumper

__all__ = ["get_omega_conf_dumper"]
