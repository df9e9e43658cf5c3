"""Stopping a search trial early: a hopeless candidate, or the time budget running out.

Optuna's pruners need ``trial.report``, which multi-objective studies refuse
(``NotImplementedError``), so the search prunes by its own rule, inside the fit:

* **Intermediate AUC check.** Every trial records its validation AUC at a check point (a
  net after ``check_epoch`` epochs, a booster after ``check_round`` rounds; the model's
  own internal validation slice, never the study's hold-out). Once ``min_trials`` trials
  of the same family have finished, a candidate whose check-point AUC is more than
  ``margin`` below the best check-point AUC of those finished trials is stopped and
  marked PRUNED: like against like, since an early AUC is below a final one (a first
  version compared it with the best *final* AUC and, on Taiwan, stopped 6 of the first 9
  trials at their check point). A credit model that far behind its own family's best at the
  same point is not worth the latency, energy or fairness gap it might have saved, and
  its remaining epochs are the search time the check saves.
* **Deadline.** A trial still fitting when the study's deadline passes is stopped the
  same way (the budget bounds the whole run, the knee's refit included).

Both raise :class:`optuna.TrialPruned`; :attr:`TrialGuard.reason` says which.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class TrialGuard:
    """The stopping rule of one trial.

    Attributes
    ----------
    floor : AUC below which the check stops the trial (None: no check yet).
    deadline : ``time.monotonic()`` value after which the trial stops.
    check_epoch, check_round : where a net and a booster are checked.
    reason : why the trial was stopped (None while it runs).
    """

    floor: float | None
    deadline: float
    check_epoch: int = 2
    check_round: int = 20
    reason: str | None = None
    #: The trial's validation AUC at its check point, once reached.
    check_auc: float | None = None

    def _stop(self, reason: str) -> None:
        import optuna

        self.reason = reason
        raise optuna.TrialPruned(reason)

    def _check(self, auc: float | None, where: str) -> None:
        if auc is not None:
            self.check_auc = float(auc)
        if time.monotonic() > self.deadline:
            self._stop(f"time budget reached {where}")
        if self.floor is not None and auc is not None and auc < self.floor:
            self._stop(f"validation AUC {auc:.4f} {where} below the floor {self.floor:.4f}")

    def on_epoch_end(self) -> Callable[[dict[str, float]], None]:
        """A net's ``fit(on_epoch_end=...)`` hook."""

        def hook(record: dict[str, float]) -> None:
            epoch = int(record["epoch"])
            auc = record.get("val_score") if epoch == self.check_epoch else None
            self._check(auc, f"at epoch {epoch}")

        return hook

    def lightgbm_callback(self) -> Callable[[Any], None]:
        """A LightGBM ``callbacks=[...]`` entry (called after every boosting round)."""

        def callback(env: Any) -> None:
            rounds = env.iteration + 1
            if rounds != self.check_round and rounds % 10:
                return
            auc = None
            if rounds == self.check_round:
                auc = next((e[2] for e in env.evaluation_result_list if e[1] == "auc"), None)
            self._check(auc, f"at round {rounds}")

        return callback


def auc_floor(check_aucs: list[float], *, margin: float, min_trials: int) -> float | None:
    """The AUC a candidate must reach at its check point, from the check-point AUCs of the
    finished trials of its family (None: too few to judge)."""
    if len(check_aucs) < min_trials:
        return None
    return max(check_aucs) - margin
