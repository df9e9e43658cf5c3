"""LightGBM trained on a Dask cluster, saved as an ordinary LightGBM classifier.

:class:`DaskLightGBMClassifier` is :class:`~greenscore.models.gbm.LightGBMCreditClassifier`
(same parameters, monotone constraints, early-stopping protocol) whose trees are grown by
:class:`lightgbm.dask.DaskLGBMClassifier` on the workers of the current Dask client: the
rows are split into one partition per worker and LightGBM's data-parallel learner builds
each tree from all of them. The round count is chosen as the single-machine model chooses
it (early stopping on a stratified hold-out slice, or inner ``lightgbm.cv`` on small data),
in this process: only the final fit, the one whose trees are kept, runs on the cluster.

The fitted model is ``DaskLGBMClassifier.to_local()``: a plain ``lightgbm.LGBMClassifier``.
Pickled, a :class:`DaskLightGBMClassifier` *is* a ``LightGBMCreditClassifier`` (see
``__reduce_ex__``), so its bundle loads, scores and explains with no Dask anywhere.

:func:`distributed_lightgbm` makes the model registry build this class for ``lightgbm``
while a training run is under way (``greenscore train --engine dask``), so the train
workflow's folds, calibration, reason codes and bundle are those of every other run.
"""

from __future__ import annotations

import copyreg
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import ModelError
from greenscore.models import registry
from greenscore.models.gbm import LightGBMCreditClassifier

ERR_NO_CLIENT = (
    "DaskLightGBMClassifier trains on a Dask cluster: open one first "
    "(greenscore.scale.cluster.dask_client, or --engine dask on the command line)"
)
_Y = "__greenscore_target__"
_W = "__greenscore_weight__"


def _current_client() -> Any:
    from distributed import get_client

    try:
        return get_client()
    except ValueError as exc:
        raise ModelError(ERR_NO_CLIENT) from exc


class _OnCluster:
    """The LGBMClassifier LightGBMCreditClassifier asked for, fitted on the cluster.

    A fit with a validation set (the early-stopping search) stays in this process; a plain
    fit, the one the model keeps, is distributed.
    """

    def __init__(self, local: Any) -> None:
        self.local = local

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return dict(self.local.get_params(deep=deep))

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        **kwargs: Any,
    ) -> Any:
        if kwargs:
            return self.local.fit(X, y, sample_weight=sample_weight, **kwargs)
        return fit_on_cluster(self.local, X, y, sample_weight=sample_weight)


def fit_on_cluster(
    local: Any,
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    client: Any = None,
) -> Any:
    """Fit an unfitted ``lightgbm.LGBMClassifier``'s parameters on a Dask cluster.

    Parameters
    ----------
    local : lightgbm.LGBMClassifier
        Its parameters are used; it is not fitted itself.
    X, y, sample_weight : the training rows (pandas; categories stay categories).
    client : distributed.Client, optional
        The current client by default.

    Returns
    -------
    lightgbm.LGBMClassifier
        The distributed model as a local one (``to_local()``).
    """
    import dask.dataframe as dd
    from lightgbm.dask import DaskLGBMClassifier

    client = client or _current_client()
    workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    frame = X.reset_index(drop=True)
    frame[_Y] = np.asarray(y).astype(int)
    if sample_weight is not None:
        frame[_W] = np.asarray(sample_weight, dtype=float)
    # One partition per worker, all cut from one frame so rows, labels and weights align.
    parts = dd.from_pandas(frame, npartitions=workers, sort=True).persist()
    features = [c for c in frame.columns if c not in (_Y, _W)]
    params = local.get_params()
    params["n_jobs"] = params.get("n_jobs") or 1
    model = DaskLGBMClassifier(client=client, **params)
    model.fit(
        parts[features],
        parts[_Y],
        sample_weight=parts[_W] if sample_weight is not None else None,
    )
    return model.to_local()


class DaskLightGBMClassifier(LightGBMCreditClassifier):
    """:class:`LightGBMCreditClassifier` whose kept trees are grown on a Dask cluster.

    Same parameters and attributes as the parent; fit needs a current Dask client
    (``distributed.get_client()``), which is never stored.
    """

    def _lgbm(self, n_estimators: int) -> Any:
        return _OnCluster(super()._lgbm(n_estimators))

    def fit(
        self,
        X: pd.DataFrame,  # noqa: N803
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        *,
        callbacks: list[Any] | None = None,
    ) -> DaskLightGBMClassifier:
        """Fit as the parent does, the kept model on the cluster.

        Raises
        ------
        ModelError
            When there is no Dask client.
        """
        _current_client()
        super().fit(X, y, sample_weight, callbacks=callbacks)
        return self

    def __reduce_ex__(self, protocol: Any) -> Any:
        # Stored as the plain class: a bundle never needs Dask (or this module) to load.
        rebuild = copyreg._reconstructor  # type: ignore[attr-defined]
        return (rebuild, (LightGBMCreditClassifier, object, None), self.__getstate__())


@contextmanager
def distributed_lightgbm() -> Iterator[None]:
    """While inside, the registry's ``lightgbm`` is :class:`DaskLightGBMClassifier`."""
    before = registry.FACTORIES["lightgbm"]

    def build(**kwargs: Any) -> DaskLightGBMClassifier:
        return DaskLightGBMClassifier(**before(**kwargs).get_params())

    registry.FACTORIES["lightgbm"] = build
    try:
        yield
    finally:
        registry.FACTORIES["lightgbm"] = before
