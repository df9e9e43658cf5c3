"""Built-in dataset presets: specs for the public credit datasets and the generator's data."""

from __future__ import annotations

from importlib import resources

from greenscore.data.spec import DatasetSpec
from greenscore.errors import ConfigError

PRESETS = ("taiwan", "german", "credit_risk", "synthetic")


def load_preset(name: str) -> DatasetSpec:
    """Return the spec of a built-in preset.

    Raises
    ------
    ConfigError
        If no preset has that name (the known names are listed).
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'; choose one of: {', '.join(PRESETS)}")
    text = resources.files("greenscore.data.presets").joinpath(f"{name}.yaml").read_text("utf-8")
    import yaml

    return DatasetSpec.from_dict(yaml.safe_load(text), source=f"preset {name}")
