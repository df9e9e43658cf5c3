"""The federation's AUC from summed score histograms, and divergence alerts."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from greenscore.federated.dnn_local import score_histograms
from greenscore.federated.monitor import ConvergenceMonitor, auc_from_histograms


def test_histogram_auc_matches_the_pooled_auc() -> None:
    rng = np.random.default_rng(0)
    lenders = []
    for k in range(3):
        y = (rng.random(800) < 0.2 + 0.1 * k).astype(int)
        p = 1 / (1 + np.exp(-(rng.normal(-1.5, 1, 800) + 1.2 * y)))
        lenders.append((y, p))
    pos = np.zeros(0)
    neg = np.zeros(0)
    for y, p in lenders:
        a, b = map(np.asarray, score_histograms(p, y))
        pos = a if pos.size == 0 else pos + a
        neg = b if neg.size == 0 else neg + b
    y_all = np.concatenate([y for y, _ in lenders])
    p_all = np.concatenate([p for _, p in lenders])
    assert abs(auc_from_histograms(pos, neg) - roc_auc_score(y_all, p_all)) < 0.002


def test_one_class_gives_nan() -> None:
    assert np.isnan(auc_from_histograms(np.zeros(4), np.ones(4)))


def test_a_falling_auc_raises_an_alert_and_the_best_round_is_kept() -> None:
    monitor = ConvergenceMonitor(drop=0.03, patience=2)
    assert monitor.record(1, auc=0.70, train_loss=0.5)
    assert monitor.record(2, auc=0.74, train_loss=0.45)
    assert not monitor.record(3, auc=0.73, train_loss=0.44)
    assert not monitor.diverged
    assert not monitor.record(4, auc=0.69, train_loss=0.6)
    assert monitor.diverged and monitor.alerts[0]["round"] == 4.0
    assert monitor.best_round == 2 and monitor.should_stop(4)


def test_a_non_finite_loss_is_an_alert() -> None:
    monitor = ConvergenceMonitor()
    monitor.record(1, auc=0.7, train_loss=float("nan"))
    assert "training loss is nan" in monitor.alerts[0]["reason"]
