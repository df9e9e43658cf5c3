"""SHAP values for any GreenScore model: global importance and local contributions.

Every explanation is in log-odds of default, so tree, linear and neural models read the
same way and add up to the model's logit. Exact contributions come from the bundle's
scoring runtime (:mod:`greenscore.models.runtime`), the same ones reason codes use:

- LightGBM (``treeshap``): exact path-dependent TreeSHAP from per-leaf tables, equal to
  LightGBM's ``pred_contrib`` and ``shap.TreeExplainer``, several times faster.
- Models with their own exact decomposition (``model``: ``log_odds_contributions(X)``,
  e.g. a WoE scorecard's per-characteristic terms): used as is.
- Linear models with ``coef_`` (``linear``: logistic regression on numeric features): the
  exact SHAP values of a linear model with independent features,
  ``coef * (x - background mean)``.
- Anything else (PyTorch nets, ensembles): ``shap.KernelExplainer`` (or
  ``PermutationExplainer``) over the model's ``predict_proba`` on the transformed
  features, with a small seeded background sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd

from greenscore.errors import DataError, ModelError
from greenscore.explain.feature_map import model_feature_names, model_frame, select_model_input
from greenscore.models.bundle import ScoringBundle
from greenscore.models.graph_part import add_graph_part, as_strangers
from greenscore.models.runtime import ScoringRuntime

_EPS = 1e-9


@dataclass
class Explanation:
    """Local contributions of a batch of rows.

    Attributes
    ----------
    values : ndarray of shape (n_rows, n_features)
        Contribution of each model feature to the log-odds of default.
    base_values : ndarray of shape (n_rows,)
        Expected log-odds; ``base_values + values.sum(1)`` is each row's logit.
    data : DataFrame of shape (n_rows, n_features)
        The model features the values explain (output of the feature steps).
    method : str
        ``lightgbm_pred_contrib``, ``linear`` or ``permutation``.
    """

    values: np.ndarray
    base_values: np.ndarray
    data: pd.DataFrame
    method: str

    @property
    def feature_names(self) -> list[str]:
        """Model feature names, column order of :attr:`values`."""
        return [str(c) for c in self.data.columns]

    def importance(self) -> pd.Series:
        """Global importance: mean absolute contribution per feature, largest first."""
        mean_abs = (
            np.abs(self.values).mean(axis=0)
            if len(self.values)
            else np.zeros(len(self.data.columns))
        )
        return pd.Series(mean_abs, index=self.feature_names, name="mean_abs_shap").sort_values(
            ascending=False, kind="stable"
        )

    def frame(self) -> pd.DataFrame:
        """Contributions as a DataFrame indexed like :attr:`data`."""
        return pd.DataFrame(self.values, index=self.data.index, columns=self.feature_names)

    def numeric_data(self) -> np.ndarray:
        """Feature values as floats (category codes for categorical features), for colouring plots."""
        out = np.empty(self.data.shape, dtype=float)
        for j, column in enumerate(self.data.columns):
            values = self.data[column]
            if pd.api.types.is_numeric_dtype(values) and not isinstance(
                values.dtype, pd.CategoricalDtype
            ):
                out[:, j] = values.to_numpy(dtype=float, na_value=np.nan)
            else:
                codes = pd.Categorical(values).codes.astype(float)
                codes[codes < 0] = np.nan
                out[:, j] = codes
        return out

    def to_shap(self) -> Any:
        """The same values as a ``shap.Explanation`` (for shap's own plots)."""
        import shap

        return shap.Explanation(
            values=self.values,
            base_values=self.base_values,
            data=self.numeric_data(),
            display_data=self.data.to_numpy(dtype=object),
            feature_names=self.feature_names,
        )


class ContributionBackend(Protocol):
    """Computes log-odds contributions for transformed model features."""

    method: str

    def contributions(self, transformed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(values (n, p), base_values (n,))`` for model-feature rows."""
        ...


class RuntimeBackend:
    """Exact contributions from the bundle's scoring runtime (TreeSHAP tables for
    LightGBM, the model's own terms for a WoE scorecard, a linear model's terms)."""

    def __init__(self, runtime: ScoringRuntime) -> None:
        self.runtime = runtime
        self.method = str(runtime.terms)

    def contributions(self, transformed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Exact log-odds contributions of model-feature rows and the base they add to."""
        return self.runtime.contributions(self.runtime.from_model_frame(transformed))


class AgnosticBackend:
    """Model-agnostic SHAP on the log-odds of default, for any ``predict_proba`` model.

    ``algorithm="kernel"`` (default) is ``shap.KernelExplainer`` without L1 selection, so
    every feature gets a value; ``"permutation"`` is ``shap.PermutationExplainer`` (exact
    additivity too, but it JIT-compiles numba code on first use in a process, which costs
    tens of seconds on a busy machine). Both are seeded. shap's maskers work on numbers,
    so non-numeric model features travel as category codes and are decoded back to their
    labels (and dtypes) before each model call.
    """

    def __init__(
        self,
        estimator: Any,
        background: pd.DataFrame,
        *,
        algorithm: Literal["kernel", "permutation"] = "kernel",
        seed: int = 0,
        evaluations: int | None = None,
    ) -> None:
        import shap

        if algorithm not in ("kernel", "permutation"):
            raise ModelError(
                f"unknown SHAP algorithm '{algorithm}': expected kernel or permutation"
            )
        self.estimator = estimator
        self.algorithm = algorithm
        self.method: str = algorithm
        self.seed = seed
        self.evaluations = evaluations
        self.columns = list(background.columns)
        self.dtypes = background.dtypes
        self.labels: dict[str, list[Any]] = {
            c: list(pd.unique(background[c].dropna()))
            for c in self.columns
            if not _is_plain_numeric(background[c].dtype)
        }
        data = self._encode(background)
        if algorithm == "kernel":
            self.explainer = shap.KernelExplainer(self._logit, data)
        else:
            masker = shap.maskers.Independent(data, max_samples=len(background))
            self.explainer = shap.PermutationExplainer(self._logit, masker, seed=seed)

    def _encode(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty(frame.shape, dtype=float)
        for j, column in enumerate(self.columns):
            values = frame[column]
            if column not in self.labels:
                out[:, j] = values.to_numpy(dtype=float, na_value=np.nan)
                continue
            labels = self.labels[column]
            for value in pd.unique(values.dropna()):
                if value not in labels:
                    labels.append(value)  # unseen in the background: give it the next code
            index = {v: float(i) for i, v in enumerate(labels)}
            out[:, j] = [np.nan if pd.isna(v) else index[v] for v in values]
        return out

    def _decode(self, z: np.ndarray) -> pd.DataFrame:
        # Made-up rows carry ids no borrower has (a GNN finds applicants by id).
        frame = as_strangers(pd.DataFrame(z, columns=self.columns))
        for column, labels in self.labels.items():
            codes = frame[column].to_numpy(dtype=float)
            missing = np.isnan(codes)
            decoded = np.asarray([*labels, None], dtype=object)[
                np.where(missing, len(labels), np.nan_to_num(codes).astype(int))
            ]
            # A fixed CategoricalDtype would turn labels unseen in the background into
            # NaN; a fresh "category" keeps them and the model maps them itself.
            dtype = self.dtypes[column]
            frame[column] = pd.Series(decoded, index=frame.index).astype(
                "category" if isinstance(dtype, pd.CategoricalDtype) else dtype
            )
        return frame

    def _logit(self, z: np.ndarray) -> np.ndarray:
        return self._log_odds(self._decode(z))

    def _log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        p = np.clip(self.estimator.predict_proba(frame)[:, 1], _EPS, 1 - _EPS)
        return np.log(p / (1 - p))

    def contributions(self, transformed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """SHAP values of each row and the expected log-odds over the background; what
        the row's borrower links make of its log-odds (a graph net's) is added to the link
        count's (:mod:`greenscore.models.graph_part`)."""
        values, base = self._sampled(transformed)
        served = self._log_odds(transformed)
        stranger = self._log_odds(as_strangers(transformed))
        return add_graph_part(values, transformed.columns, served, stranger), base

    def _sampled(self, transformed: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Sampled SHAP values of each row, and the base they add to.

        Each row is explained on its own, with the coalitions (or permutations) drawn from
        a seed made of the explainer's seed and the row's own values: an applicant gets the
        same reasons whichever rows it is scored with (one request, a micro-batch, a file,
        its declines only). Drawn for the whole batch in one pass, a row's draws depended
        on the rows before it.
        """
        n_features = transformed.shape[1]
        x = self._encode(transformed)
        seeds = _row_seeds(transformed, self.seed)
        values = np.empty((len(x), n_features))
        base = np.empty(len(x))
        state = np.random.get_state()  # both explainers draw from numpy's global RNG
        try:
            for i in range(len(x)):
                np.random.seed(seeds[i])
                values[i], base[i] = self._sampled_row(x[i : i + 1], n_features)
        finally:
            np.random.set_state(state)
        return values, base

    def _sampled_row(self, x: np.ndarray, n_features: int) -> tuple[np.ndarray, float]:
        if self.algorithm == "permutation":
            # Each permutation costs 2 * p + 1 evaluations of the model on the background.
            max_evals = self.evaluations or 4 * (2 * n_features + 1) + 1
            result = self.explainer(x, max_evals=max_evals, silent=True)
            return (
                np.asarray(result.values, dtype=float).reshape(n_features),
                float(np.asarray(result.base_values, dtype=float).reshape(-1)[0]),
            )
        values = self.explainer.shap_values(
            x, nsamples=self.evaluations or 2 * n_features + 256, l1_reg=False, silent=True
        )
        return (
            np.asarray(values, dtype=float).reshape(n_features),
            float(np.asarray(self.explainer.expected_value).reshape(-1)[0]),
        )


def _row_seeds(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """One 32-bit seed per row from its values (not its index, not its neighbours)."""
    hashes = pd.util.hash_pandas_object(frame, index=False).to_numpy(dtype=np.uint64)
    mixed = hashes ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
    return (mixed % np.uint64(2**32)).astype(np.int64)


def _is_plain_numeric(dtype: Any) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not isinstance(dtype, pd.CategoricalDtype)


def sample_background(frame: pd.DataFrame, *, size: int, seed: int) -> pd.DataFrame:
    """A seeded sample of at most ``size`` rows (all rows when there are fewer)."""
    if len(frame) == 0:
        raise DataError("a background sample needs at least one row")
    return frame.sample(n=min(size, len(frame)), random_state=seed) if len(frame) > size else frame


def contribution_backend(
    bundle: ScoringBundle,
    *,
    background: pd.DataFrame | None = None,
    max_background: int = 50,
    algorithm: Literal["kernel", "permutation"] = "kernel",
    seed: int = 0,
    runtime: ScoringRuntime | None = None,
) -> ContributionBackend:
    """Choose the contribution method for a bundle's classifier.

    Parameters
    ----------
    bundle : ScoringBundle
        The fitted model.
    background : DataFrame, optional
        Model-input rows (raw columns) used as the reference distribution (a linear
        model's baseline, the sampled path's background); required for models without
        exact contributions.
    max_background : int
        Rows kept from ``background`` (seeded sample).
    algorithm : {"kernel", "permutation"}
        shap explainer of the model-agnostic path.
    seed : int
        Seed of the background sample and of the sampled coalitions.
    runtime : ScoringRuntime, optional
        The bundle's runtime, when the caller has one (its linear baseline is its own).

    Raises
    ------
    ModelError
        If a non-tree model is explained without a background sample.
    """
    sample = (
        sample_background(select_model_input(bundle, background), size=max_background, seed=seed)
        if background is not None
        else None
    )
    runtime = runtime or ScoringRuntime(bundle, background=sample)
    if runtime.exact:
        return RuntimeBackend(runtime)
    if sample is None:
        raise ModelError(
            f"explaining a {type(bundle.estimator).__name__} needs a background sample of applicants"
        )
    transformed = model_frame(bundle, sample)
    return AgnosticBackend(bundle.estimator, transformed, algorithm=algorithm, seed=seed)


def explain(
    bundle: ScoringBundle,
    X: pd.DataFrame,  # noqa: N803
    *,
    background: pd.DataFrame | None = None,
    backend: ContributionBackend | None = None,
    max_background: int = 50,
    algorithm: Literal["kernel", "permutation"] = "kernel",
    seed: int = 0,
) -> Explanation:
    """Local SHAP contributions (log-odds of default) for every row of ``X``.

    Parameters
    ----------
    bundle : ScoringBundle
        The fitted model.
    X : DataFrame
        Raw applications or model input; the pipeline's input columns are selected.
    background : DataFrame, optional
        Reference applicants for non-tree models (defaults to ``X`` itself).
    backend : ContributionBackend, optional
        A prepared backend (reuse it across batches).
    max_background, algorithm, seed : see :func:`contribution_backend`.

    Returns
    -------
    Explanation
        ``base_values + values.sum(1)`` equals each row's logit (exactly for the tree,
        linear and kernel paths).

    Examples
    --------
    >>> expl = explain(bundle, applications)  # doctest: +SKIP
    >>> expl.importance().head(3)  # doctest: +SKIP
    """
    if backend is None:
        backend = contribution_backend(
            bundle,
            background=X if background is None else background,
            max_background=max_background,
            algorithm=algorithm,
            seed=seed,
        )
    transformed = model_frame(bundle, select_model_input(bundle, X))
    names = model_feature_names(bundle, transformed)
    if len(names) != transformed.shape[1]:
        raise ModelError(
            f"feature steps produced {transformed.shape[1]} columns, model expects {len(names)}"
        )
    values, base = backend.contributions(transformed)
    return Explanation(values=values, base_values=base, data=transformed, method=backend.method)


def explain_batches(
    bundle: ScoringBundle,
    X: pd.DataFrame,  # noqa: N803
    *,
    batch_size: int = 5000,
    background: pd.DataFrame | None = None,
    max_background: int = 50,
    algorithm: Literal["kernel", "permutation"] = "kernel",
    seed: int = 0,
) -> Explanation:
    """Explain a whole file batch by batch with one backend, then join the results.

    Raises
    ------
    DataError
        If ``batch_size`` is not positive or there are no rows.
    """
    if batch_size < 1:
        raise DataError(f"batch_size must be at least 1, got {batch_size}")
    if len(X) == 0:
        raise DataError("no rows to explain")
    backend = contribution_backend(
        bundle,
        background=X if background is None else background,
        max_background=max_background,
        algorithm=algorithm,
        seed=seed,
    )
    parts = [
        explain(bundle, X.iloc[start : start + batch_size], backend=backend)
        for start in range(0, len(X), batch_size)
    ]
    return Explanation(
        values=np.vstack([p.values for p in parts]),
        base_values=np.concatenate([p.base_values for p in parts]),
        data=pd.concat([p.data for p in parts]),
        method=backend.method,
    )


def global_importance(
    bundle: ScoringBundle,
    X: pd.DataFrame,  # noqa: N803
    *,
    max_rows: int = 2000,
    seed: int = 0,
) -> pd.Series:
    """Mean absolute SHAP value per model feature over a seeded sample of ``X``."""
    sample = sample_background(X, size=max_rows, seed=seed)
    return explain(bundle, sample, seed=seed).importance()
