"""What a federation is asked to do: one plan, checked once, carried as Flower run config.

``greenscore federate simulate`` builds the plan from its options; ``greenscore federate
server`` passes it to ``flwr run --run-config``; the ServerApp reads it back from
``context.run_config``. Keys are Flower's kebab-case. Every mistake is refused here,
before any lender is contacted, with the option named.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from greenscore.errors import ConfigError
from greenscore.federated.compression import check_method
from greenscore.federated.dp_local import check_dp
from greenscore.federated.selection import POLICIES

MODELS = ("dnn", "scorecard")
STRATEGIES = ("fedavg", "fedprox", "fedadam")
ERR_MODEL = "--model must be one of {choices}, not '{value}'"
ERR_STRATEGY = "--strategy must be one of {choices}, not '{value}'"
ERR_ROUNDS = "--rounds must be at least 1, got {value}"
ERR_SECAGG_COMPRESSION = (
    "--compression cannot be combined with --secagg: SecAgg+ masks dense vectors, and "
    "already sends each entry in 22 bits"
)
ERR_SECAGG_CENTRAL = (
    "--dp-mode central clips each lender's update on the server, which --secagg hides "
    "from it; use --dp-mode local (DP-SGD on each lender) with --secagg"
)
ERR_SCORECARD_DP = (
    "--model scorecard has no DP training yet; its histograms and gradients are "
    "protected by --secagg"
)
ERR_FRACTION = "--{name} must be in [0, 0.5], got {value}"


@dataclass
class FederationPlan:
    """Every setting of a federated run (defaults are the CLI's)."""

    federation: str = "greenscore"
    model: str = "dnn"
    rounds: int = 10
    strategy: str = "fedavg"
    local_epochs: int = 1
    lr: float = 2e-3
    batch_size: int = 256
    proximal_mu: float = 0.01
    server_lr: float = 0.01
    selection: str = "random"
    fraction: float = 1.0
    min_lenders: int = 2
    compression: str = "none"
    topk_ratio: float = 0.1
    secagg: bool = False
    dp_mode: str = "none"
    dp_epsilon: float = 0.0
    dp_delta: float = 1e-5
    dp_clip: float = 1.0
    hidden_units: int = 128
    hidden_layers: int = 2
    dropout: float = 0.1
    patience: int = 0
    divergence_drop: float = 0.05
    round_timeout: float = 600.0
    personalise_epochs: int = 2
    test_fraction: float = 0.0
    validation_fraction: float = 0.15
    seed: int = 42
    out: str = ""
    spec: str = ""

    def check(self) -> FederationPlan:
        """Refuse impossible settings (see the module docstring).

        Raises
        ------
        ConfigError
        """
        if self.model not in MODELS:
            raise ConfigError(ERR_MODEL.format(choices=", ".join(MODELS), value=self.model))
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                ERR_STRATEGY.format(choices=", ".join(STRATEGIES), value=self.strategy)
            )
        if self.rounds < 1:
            raise ConfigError(ERR_ROUNDS.format(value=self.rounds))
        if self.selection not in POLICIES:
            raise ConfigError(
                f"--selection must be one of {', '.join(POLICIES)}, not '{self.selection}'"
            )
        check_method(self.compression, self.topk_ratio)
        check_dp(self.dp_mode, self.dp_epsilon if self.dp_mode != "none" else None, self.dp_delta)
        if self.secagg and self.compression != "none":
            raise ConfigError(ERR_SECAGG_COMPRESSION)
        if self.secagg and self.dp_mode == "central":
            raise ConfigError(ERR_SECAGG_CENTRAL)
        if self.model == "scorecard" and self.dp_mode != "none":
            raise ConfigError(ERR_SCORECARD_DP)
        for name in ("test_fraction", "validation_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 0.5:
                raise ConfigError(ERR_FRACTION.format(name=name.replace("_", "-"), value=value))
        return self

    def to_run_config(self) -> dict[str, Any]:
        """As Flower run config (kebab-case keys, scalar values)."""
        return {k.replace("_", "-"): v for k, v in asdict(self).items()}

    @classmethod
    def from_run_config(cls, config: dict[str, Any]) -> FederationPlan:
        """Read a plan back from Flower run config; unknown keys are refused.

        Raises
        ------
        ConfigError
        """
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in config.items():
            name = str(key).replace("-", "_")
            if name not in known:
                raise ConfigError(f"unknown federation setting '{key}'")
            kind = type(getattr(cls(), name))
            values[name] = kind(value) if kind is not bool else _as_bool(value)
        return cls(**values).check()

    def model_params(self) -> dict[str, Any]:
        """The DNN's parameters: the same for the federation and its baselines."""
        return {
            "hidden_units": self.hidden_units,
            "hidden_layers": self.hidden_layers,
            "dropout": self.dropout,
            # Per-example clipping cannot bound batch normalisation (see dp_local).
            "batch_norm": self.dp_mode != "local",
            "lr": self.lr,
            "batch_size": self.batch_size,
            "random_state": self.seed,
            "n_jobs": 1,
        }

    def to_json(self) -> str:
        """The plan as JSON (written beside the federation's outputs)."""
        return json.dumps(asdict(self), indent=2)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)
