"""Knowledge distillation: a teacher's temperature-scaled soft targets train a small student.

The teacher is any fitted bundle step (an ensemble, a calibrated LightGBM, a net): its
log-odds ``z_t`` on the training rows, softened by a temperature ``T``, give soft targets
``sigmoid(z_t / T)`` that carry how sure the teacher is, not only which side it is on.

* **MLP student** (:func:`distill_mlp`): a small :class:`~greenscore.models.torch.dnn.DNNClassifier`
  trained on Hinton's loss ``alpha * T^2 * BCE(z_s / T, sigmoid(z_t / T)) + (1 - alpha) *
  BCE(z_s, y)``; it is an ordinary DNN afterwards (and may then be quantized to ONNX).
* **LightGBM student** (:func:`distill_lightgbm`): trees cannot take a soft label, so each
  row enters twice, as a default with weight ``q`` and as a non-default with weight
  ``1 - q``, where ``q = alpha * sigmoid(z_t / T) + (1 - alpha) * y``: the weighted binary
  log loss is then exactly the cross-entropy against ``q``. Its log-odds are on the
  softened scale, so a Platt map fitted on the outcomes (a
  :class:`~greenscore.models.calibration.CalibratedClassifier` step) brings the PDs back;
  the map is increasing, so ranking and exact TreeSHAP reasons are the student's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy.special import expit
from torch import nn

from greenscore.errors import ConfigError
from greenscore.models.compress.steps import Loss, NetData, fine_tune
from greenscore.models.ensemble_contrib import raw_log_odds

STUDENTS = ("lightgbm", "mlp")
BAD_STUDENT = "unknown student '{kind}'; choose from: lightgbm, mlp"
BAD_TEMPERATURE = "the distillation temperature must be positive, got {value}"
BAD_ALPHA = "the soft-target weight alpha must be in [0, 1], got {value}"


def _check(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise ConfigError(BAD_TEMPERATURE.format(value=temperature))
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(BAD_ALPHA.format(value=alpha))


def teacher_log_odds(teacher: Any, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
    """The teacher step's log-odds of default on model-feature rows."""
    return np.clip(raw_log_odds(teacher, X), -30.0, 30.0)


def soft_targets(
    teacher_z: np.ndarray, y: np.ndarray, *, temperature: float, alpha: float
) -> np.ndarray:
    """``alpha * sigmoid(z_t / T) + (1 - alpha) * y``: what a tree student is fitted to."""
    _check(temperature, alpha)
    return alpha * expit(np.asarray(teacher_z) / temperature) + (1.0 - alpha) * np.asarray(y)


def kd_loss(temperature: float, alpha: float) -> Loss:
    """Hinton's distillation loss on targets ``[n, 2]`` = (teacher's soft target, outcome).

    The soft term is multiplied by ``T^2`` so its gradients keep their size as ``T`` grows.
    """
    _check(temperature, alpha)

    def loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        bce = nn.functional.binary_cross_entropy_with_logits
        soft = bce(logits / temperature, target[:, 0])
        hard = bce(logits, target[:, 1])
        return alpha * temperature**2 * soft + (1.0 - alpha) * hard

    return loss


def distill_mlp(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    teacher_z: np.ndarray,
    *,
    spec: Any,
    hidden_units: int = 32,
    hidden_layers: int = 2,
    temperature: float = 2.0,
    alpha: float = 0.7,
    epochs: int = 20,
    lr: float = 2e-3,
    batch_size: int = 512,
    seed: int = 0,
) -> tuple[Any, list[float]]:
    """A small DNN trained on the teacher's soft targets; returns it and its epoch losses."""
    from greenscore.models.torch.dnn import DNNClassifier
    from greenscore.models.torch.encoding import TabularEncoder
    from greenscore.models.torch.training import torch_runtime

    _check(temperature, alpha)
    student = DNNClassifier(
        spec=spec,
        hidden_layers=hidden_layers,
        hidden_units=hidden_units,
        dropout=0.0,
        max_epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        validation_fraction=0.0,
        random_state=seed,
    )
    # The student is an ordinary DNNClassifier; only its training loop is the
    # distillation one, so its own fit (outcomes only) is bypassed through its hooks.
    student._check_params()
    with torch_runtime(seed=seed, n_threads=student._threads()):
        encoder = TabularEncoder(spec=spec, use_sequences=False).fit(X)
        module, config = student._build_module(encoder)
        data = NetData.of(encoder, X, y)
        soft = torch.from_numpy(expit(np.asarray(teacher_z) / temperature).astype(np.float32))
        data.target = torch.stack([soft, data.y], dim=1)
        losses = fine_tune(
            module,
            data,
            epochs=epochs,
            lr=lr,
            batch_size=batch_size,
            seed=seed,
            loss=kd_loss(temperature, alpha),
        )
    student.encoder_ = encoder
    student.module_ = module.cpu().eval()
    student.module_config_ = config
    student.history_ = [{"epoch": float(i + 1), "train_loss": v} for i, v in enumerate(losses)]
    student.best_epoch_, student.best_score_, student.resumed_from_ = epochs, None, None
    student._remember_columns(X)
    return student, losses


def distill_lightgbm(
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    teacher_z: np.ndarray,
    *,
    monotone: dict[str, int] | None = None,
    n_estimators: int = 100,
    num_leaves: int = 15,
    learning_rate: float = 0.08,
    temperature: float = 2.0,
    alpha: float = 0.7,
    seed: int = 0,
    n_jobs: int = 1,
) -> tuple[Any, dict[str, Any]]:
    """A small LightGBM fitted to soft targets, Platt-calibrated on the outcomes.

    Returns
    -------
    (step, facts) : a fitted :class:`~greenscore.models.calibration.CalibratedClassifier`
        around the student, and the student's size and soft-target loss.
    """
    from greenscore.models.calibration import CalibratedClassifier
    from greenscore.models.gbm import LightGBMCreditClassifier

    y = np.asarray(y).astype(int)
    q = soft_targets(teacher_z, y, temperature=temperature, alpha=alpha)
    n = len(y)
    doubled = pd.concat([X, X], axis=0)
    labels = np.concatenate([np.ones(n, int), np.zeros(n, int)])
    weights = np.concatenate([q, 1.0 - q])
    student = LightGBMCreditClassifier(
        n_estimators=n_estimators,
        num_leaves=num_leaves,
        learning_rate=learning_rate,
        early_stopping_rounds=None,
        monotone=monotone,
        infer_monotone=False,
        random_state=seed,
        n_jobs=n_jobs,
    ).fit(doubled, labels, sample_weight=weights)
    z = raw_log_odds(student, X)
    # The student itself (no fold bag) and a Platt map on its log-odds.
    step = CalibratedClassifier.from_fitted(student, z, X, y, method="platt", random_state=seed)
    p = np.clip(expit(z), 1e-7, 1 - 1e-7)
    soft_loss = float(-np.mean(q * np.log(p) + (1 - q) * np.log(1 - p)))
    return step, {
        "student": "lightgbm",
        "trees": int(student.booster_.num_trees()),
        "num_leaves": num_leaves,
        "soft_target_loss": soft_loss,
    }
