"""What an architecture-search trial may build, and the nets' hyper-parameter spaces.

Two users share one definition of each net's space, so a shape is described once:

* :func:`net_space` samples the constructor arguments of one net (``dnn``, ``lstm``,
  ``tcn``, ``gnn``): :mod:`greenscore.models.tuning` tunes a net with it.
* :func:`sample_candidate` lets a multi-objective study choose the *family* as well (DNN,
  TCN, BiLSTM or a small LightGBM) and then its shape; every parameter name is prefixed by
  its family (``dnn.hidden_units``), so Optuna's samplers never mix two families'
  distributions, and :func:`candidate_from_params` rebuilds the same candidate from a
  stored trial (for the knee's refit, or a resumed study).

The shapes run from tiny to large on purpose (an 8-channel TCN, a one-layer 16-unit MLP, a
stump-sized booster): a search for the cheapest model that is good enough must be able to
propose cheap ones. Quantization-friendly choices are in the space rather than forced:
ReLU and ReLU6 activations (ONNX Runtime fuses them into int8 matrix products, ReLU6's
bounded range keeps static scales tight) and widths that are multiples of 8 (int8 kernels
work on blocks of 8 or 16); :func:`int8_friendly` says whether a candidate has them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from greenscore.errors import ConfigError

#: Nets with a search space (``bilstm`` is accepted for ``lstm``).
ARCHITECTURES = ("dnn", "lstm", "tcn", "gnn")
ALIASES = {"bilstm": "lstm"}
MSG_ARCH = "unknown architecture '{arch}'; choose one of: {choices}"
#: TCN dilation schedules offered to the sampler (Optuna choices must be plain values).
DILATIONS = {"1": (1,), "1-2": (1, 2), "1-2-4": (1, 2, 4), "1-2-4-8": (1, 2, 4, 8)}
#: Families an architecture search may choose between (the issue's DNN, TCN, BiLSTM and
#: small tree models); ``lstm`` and ``tcn`` need the spec's monthly histories.
FAMILIES = ("dnn", "tcn", "lstm", "lightgbm")
SEQUENCE_FAMILIES = frozenset({"tcn", "lstm"})
MSG_FAMILY = "unknown model family '{family}' for --families; choose from: {choices}"
#: Activations that keep a net quantization-friendly (see the module docstring).
INT8_ACTIVATIONS = frozenset({"relu", "relu6"})
#: What every trial of a family shares; searched shapes come on top. Nets train for at
#: most ``max_epochs`` (the study's setting) with a short patience; the booster stops on
#: its own hold-out slice, never a nested k-fold (``cv_below=0``), whatever the row count.
NET_TRIAL = {"patience": 3}
LIGHTGBM_TRIAL = {"cv_below": 0, "early_stopping_rounds": 30}


def arch_name(arch: str) -> str:
    """The canonical net name (``bilstm`` is ``lstm``).

    Raises
    ------
    ConfigError
        If it is not a net with a search space.
    """
    name = ALIASES.get(arch.lower(), arch.lower())
    if name not in ARCHITECTURES:
        raise ConfigError(MSG_ARCH.format(arch=arch, choices=", ".join(ARCHITECTURES)))
    return name


def estimator_class(arch: str) -> type:
    """The classifier class of a net's name (``bilstm`` is ``lstm``)."""
    import greenscore.models.torch as nets

    classes = {
        "dnn": "DNNClassifier",
        "lstm": "BiLSTMClassifier",
        "tcn": "TCNClassifier",
        "gnn": "GNNClassifier",
    }
    cls: type = getattr(nets, classes[arch_name(arch)])
    return cls


def net_space(trial: Any, arch: str, *, prefix: str = "") -> dict[str, Any]:
    """Sample constructor keyword arguments of a net from an Optuna trial.

    Parameters
    ----------
    trial : optuna.trial.BaseTrial
        A live trial, or ``optuna.trial.FixedTrial(params)`` to rebuild a configuration.
    arch : {"dnn", "lstm", "tcn", "gnn"}
        The net (``bilstm`` is accepted for ``lstm``).
    prefix : str
        Put before every parameter's name in the study (``"dnn."`` in a search across
        families); the returned keys are the constructor's own.

    Returns
    -------
    dict
        Keyword arguments for the net's classifier.

    Raises
    ------
    ConfigError
        If the architecture is unknown.
    """
    name = arch_name(arch)

    def cat(key: str, choices: list[Any]) -> Any:
        return trial.suggest_categorical(prefix + key, choices)

    def num(key: str, low: float, high: float, *, log: bool = False) -> float:
        return float(trial.suggest_float(prefix + key, low, high, log=log))

    def whole(key: str, low: int, high: int) -> int:
        return int(trial.suggest_int(prefix + key, low, high))

    if name == "gnn":
        conv = cat("conv", ["gcn", "gat"])
        params: dict[str, Any] = {
            "conv": conv,
            "hidden_size": cat("hidden_size", [32, 64, 128]),
            "num_layers": whole("num_layers", 1, 3),
            "label_features": cat("label_features", [True, False]),
            "head_units": cat("head_units", [32, 64, 128]),
            "dropout": num("dropout", 0.0, 0.5),
            "lr": num("lr", 1e-3, 3e-2, log=True),
            "weight_decay": num("weight_decay", 1e-6, 1e-3, log=True),
        }
        if conv == "gat":
            params["heads"] = cat("heads", [1, 2, 4])
        return params
    params = {
        "lr": num("lr", 3e-4, 1e-2, log=True),
        "weight_decay": num("weight_decay", 1e-6, 1e-3, log=True),
        "dropout": num("dropout", 0.0, 0.5),
        "batch_size": cat("batch_size", [256, 512, 1024]),
        "activation": cat("activation", ["relu", "relu6", "gelu", "silu"]),
    }
    if name == "dnn":
        params |= {
            "hidden_layers": whole("hidden_layers", 1, 4),
            "hidden_units": cat("hidden_units", [16, 32, 64, 128, 256]),
            "batch_norm": cat("batch_norm", [True, False]),
        }
    elif name == "lstm":
        attention = cat("attention", [True, False])
        params |= {
            "hidden_size": cat("hidden_size", [8, 16, 32, 64]),
            "num_layers": whole("num_layers", 1, 2),
            "attention": attention,
            "head_units": cat("head_units", [16, 32, 64, 128]),
        }
        if attention:  # the attention's width means nothing without it
            params["attention_size"] = cat("attention_size", [8, 16, 32])
    else:
        params |= {
            "channels": cat("channels", [8, 16, 32, 64]),
            "kernel_size": whole("kernel_size", 2, 4),
            "dilations": DILATIONS[cat("dilations", list(DILATIONS))],
            "head_units": cat("head_units", [16, 32, 64, 128]),
        }
    return params


def lightgbm_space(trial: Any, *, prefix: str = "") -> dict[str, Any]:
    """A *small* LightGBM: few shallow trees, the cheap end of the tree models.

    (Tuning LightGBM for accuracy alone uses :func:`greenscore.models.tuning.
    lightgbm_search_space`, whose 2,000-round models are not what a latency and energy
    search is after.)
    """
    return {
        "n_estimators": trial.suggest_int(prefix + "n_estimators", 20, 400, log=True),
        "num_leaves": trial.suggest_int(prefix + "num_leaves", 4, 31, log=True),
        "max_depth": trial.suggest_int(prefix + "max_depth", 2, 6),
        "learning_rate": trial.suggest_float(prefix + "learning_rate", 0.03, 0.3, log=True),
        "min_child_samples": trial.suggest_int(prefix + "min_child_samples", 10, 200, log=True),
        "colsample_bytree": trial.suggest_float(prefix + "colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float(prefix + "subsample", 0.5, 1.0),
        "reg_lambda": trial.suggest_float(prefix + "reg_lambda", 1e-3, 10.0, log=True),
    }


@dataclass(frozen=True)
class Candidate:
    """One model a trial builds: its family and every constructor argument."""

    family: str
    params: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A short human label, e.g. ``dnn 2x64 relu`` or ``lightgbm 120 trees x 15 leaves``."""
        p = self.params
        if self.family == "dnn":
            shape = f"{p['hidden_layers']}x{p['hidden_units']}"
        elif self.family == "tcn":
            dilations = "-".join(str(d) for d in p["dilations"])
            shape = f"{p['channels']}ch k{p['kernel_size']} d{dilations}"
        elif self.family == "lstm":
            attention = "attention" if p.get("attention") else "mean"
            shape = f"{p['num_layers']}x{p['hidden_size']} {attention}"
        else:
            return f"lightgbm {p['n_estimators']} trees x {p['num_leaves']} leaves"
        return f"{self.family} {shape} {p['activation']}"


def check_families(families: list[str], *, has_sequences: bool) -> tuple[list[str], list[str]]:
    """The families a search can use on this data, and why any were left out.

    Raises
    ------
    ConfigError
        For an unknown family, or when none is left.
    """
    chosen: list[str] = []
    for raw in families:
        family = ALIASES.get(raw.strip().lower(), raw.strip().lower())
        if family not in FAMILIES:
            raise ConfigError(MSG_FAMILY.format(family=raw, choices=", ".join(FAMILIES)))
        if family not in chosen:
            chosen.append(family)
    # One order whatever the user's, so a resumed study's family choices match its first run's.
    chosen = [f for f in FAMILIES if f in chosen]
    skipped = []
    if not has_sequences:
        skipped = [
            f"{f}: the spec declares no monthly histories" for f in chosen if f in SEQUENCE_FAMILIES
        ]
        chosen = [f for f in chosen if f not in SEQUENCE_FAMILIES]
    if not chosen:
        raise ConfigError(
            "no model family left for the search: " + "; ".join(skipped)
            if skipped
            else "--families is empty; choose from: " + ", ".join(FAMILIES)
        )
    return chosen, skipped


def sample_candidate(trial: Any, families: list[str], *, max_epochs: int) -> Candidate:
    """Choose a family and its shape for one trial (a live or a fixed trial).

    Parameters
    ----------
    trial : optuna.trial.BaseTrial
    families : list of str
        Checked by :func:`check_families`.
    max_epochs : int
        Epoch cap of every net (part of what a trial builds, so the refit is the same).
    """
    family = trial.suggest_categorical("family", families)
    prefix = f"{family}."
    if family == "lightgbm":
        return Candidate(family, {**LIGHTGBM_TRIAL, **lightgbm_space(trial, prefix=prefix)})
    params = net_space(trial, family, prefix=prefix)
    return Candidate(family, {**NET_TRIAL, "max_epochs": max_epochs, **params})


def candidate_from_params(params: dict[str, Any], *, max_epochs: int) -> Candidate:
    """The candidate a finished trial built, from its stored parameters."""
    import optuna

    family = params["family"]
    return sample_candidate(optuna.trial.FixedTrial(params), [family], max_epochs=max_epochs)


def int8_friendly(candidate: Candidate) -> bool:
    """Whether a net's choices suit int8 quantization (ReLU/ReLU6, widths multiple of 8).

    A tree model has no weights to quantize: False.
    """
    p = candidate.params
    if candidate.family == "lightgbm":
        return False
    widths = [p.get(k) for k in ("hidden_units", "channels", "hidden_size", "head_units")]
    return p.get("activation") in INT8_ACTIVATIONS and all(
        w % 8 == 0 for w in widths if isinstance(w, int)
    )
