"""LIME instance explanations on the raw application, with customer-facing wording.

LIME fits a small weighted linear model around one applicant by perturbing their raw
input and re-scoring with the whole bundle pipeline, so the explanation speaks in the
columns the applicant filled in (not engineered features). Categorical columns travel to
LIME as integer codes and back as labels. LIME's sampling statistics need complete
numbers: missing numeric values are shown to LIME as the background median (the result
says which columns that affected).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from greenscore.errors import DataError
from greenscore.explain.feature_map import protected_columns, select_model_input
from greenscore.explain.wording import customer_sentence, feature_phrase
from greenscore.json_document import plain
from greenscore.models.bundle import ScoringBundle


@dataclass
class LimeExplanation:
    """One applicant's LIME explanation.

    Attributes
    ----------
    applicant : the row's index label (the applicant id when the spec has one).
    probability_of_default : the bundle's PD for the applicant.
    local_prediction : the local linear model's PD at the applicant.
    fit_r2 : how well the local model fits the perturbed samples (R²).
    factors : ``feature``, ``condition``, ``weight`` (signed effect on PD), ``value``;
        largest absolute weight first.
    customer_summary : plain sentences for the applicant, risk-raising factors first.
    imputed : numeric columns that were missing and shown to LIME as the median.
    """

    applicant: Any
    probability_of_default: float
    local_prediction: float
    fit_r2: float
    factors: list[dict[str, Any]]
    customer_summary: list[str]
    imputed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data."""
        out = asdict(self)
        if isinstance(out["applicant"], np.generic):
            out["applicant"] = out["applicant"].item()
        return out


class TabularLime:
    """A LIME explainer bound to one bundle and a background sample.

    Parameters
    ----------
    bundle : ScoringBundle
        The fitted model (its whole pipeline is re-run on perturbed rows).
    background : DataFrame
        Applicants (raw or model input) whose distribution LIME samples from.
    num_samples : int
        Perturbed rows per explanation.
    seed : int
        Seed of LIME's sampling; the same seed gives the same explanation.
    """

    def __init__(
        self,
        bundle: ScoringBundle,
        background: pd.DataFrame,
        *,
        num_samples: int = 1000,
        seed: int = 0,
    ) -> None:
        from lime.lime_tabular import LimeTabularExplainer

        sample = select_model_input(bundle, background)
        if len(sample) < 2:
            raise DataError("LIME needs a background of at least two applicants")
        self.bundle = bundle
        self.num_samples = num_samples
        self.seed = seed
        self.columns = list(sample.columns)
        self.categorical = [
            c
            for c in self.columns
            if isinstance(sample[c].dtype, pd.CategoricalDtype)
            or not pd.api.types.is_numeric_dtype(sample[c])
        ]
        self.labels = {c: sorted(map(str, pd.unique(sample[c].dropna()))) for c in self.categorical}
        self._originals = {
            c: {str(v): v for v in pd.unique(sample[c].dropna())} for c in self.categorical
        }
        self.medians = {
            c: float(sample[c].median()) if sample[c].notna().any() else 0.0
            for c in self.columns
            if c not in self.categorical
        }
        self._protected = protected_columns(bundle.spec)
        self._explainer = LimeTabularExplainer(
            self._encode(sample)[0],
            mode="classification",
            feature_names=self.columns,
            categorical_features=[self.columns.index(c) for c in self.categorical],
            # The same list objects, so labels first seen in an explained row stay in step.
            categorical_names={self.columns.index(c): self.labels[c] for c in self.categorical},
            class_names=["repaid", "default"],
            discretize_continuous=True,
            random_state=seed,
        )

    def _encode(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
        out = np.empty(frame.shape, dtype=float)
        imputed: list[str] = []
        for j, column in enumerate(self.columns):
            values = frame[column]
            if column in self.categorical:
                labels = self.labels[column]
                for value in pd.unique(values.dropna()):
                    if str(value) not in labels:
                        labels.append(str(value))  # unseen in the background
                        self._originals[column][str(value)] = value
                if values.isna().any() and "missing" not in labels:
                    labels.append("missing")
                index = {v: i for i, v in enumerate(labels)}
                out[:, j] = [index["missing" if pd.isna(v) else str(v)] for v in values]
            else:
                numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
                if np.isnan(numbers).any():
                    imputed.append(column)
                    numbers = np.where(np.isnan(numbers), self.medians[column], numbers)
                out[:, j] = numbers
        return out, imputed

    def _decode(self, z: np.ndarray) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for j, column in enumerate(self.columns):
            if column in self.categorical:
                labels = self.labels[column]
                originals = self._originals[column]
                data[column] = pd.Series(
                    [
                        None
                        if labels[int(k)] == "missing"
                        else originals.get(labels[int(k)], labels[int(k)])
                        for k in z[:, j]
                    ],
                    dtype=object,
                )
            else:
                data[column] = z[:, j]
        return pd.DataFrame(data, columns=self.columns)

    def _predict(self, z: np.ndarray) -> np.ndarray:
        return self.bundle.pipeline.predict_proba(self._decode(z))

    def explain(
        self, row: Mapping[str, Any] | pd.Series | pd.DataFrame, *, num_features: int = 6
    ) -> LimeExplanation:
        """Explain one applicant.

        Parameters
        ----------
        row : dict, Series or one-row DataFrame
            The applicant.
        num_features : int
            Factors kept in the local model.

        Returns
        -------
        LimeExplanation
        """
        if isinstance(row, pd.DataFrame):
            frame = row
        elif isinstance(row, pd.Series):
            frame = row.to_frame().T.infer_objects()
        else:
            frame = pd.DataFrame([dict(row)])
        if len(frame) != 1:
            raise DataError(f"LIME explains one applicant at a time, got {len(frame)} rows")
        inputs = select_model_input(self.bundle, frame)
        encoded, imputed = self._encode(inputs)
        # lime draws from numpy's global generator besides its own random_state.
        state = np.random.get_state()
        np.random.seed(self.seed)
        try:
            # Fresh generators per call, so the same applicant gets the same explanation.
            self._explainer.random_state = np.random.RandomState(self.seed)
            self._explainer.base.random_state = np.random.RandomState(self.seed)
            if self._explainer.discretizer is not None:
                self._explainer.discretizer.random_state = np.random.RandomState(self.seed)
            result = self._explainer.explain_instance(
                encoded[0],
                self._predict,
                labels=(1,),
                num_features=num_features,
                num_samples=self.num_samples,
            )
        finally:
            np.random.set_state(state)
        pd_ = float(self.bundle.predict_pd(inputs)[0])
        factors = [
            {
                "feature": self.columns[index],
                "condition": condition,
                "weight": float(weight),
                "value": plain(inputs[self.columns[index]].iat[0]),
            }
            for (index, weight), (condition, _) in zip(
                result.as_map()[1], result.as_list(label=1), strict=True
            )
        ]
        factors.sort(key=lambda f: (-abs(f["weight"]), f["feature"]))
        summary = [
            customer_sentence(
                feature_phrase(f["feature"], self.bundle.spec), f["value"], f["weight"]
            )
            for f in sorted(factors, key=lambda f: -f["weight"])
            if f["feature"] not in self._protected and f["weight"] != 0
        ]
        local = result.local_pred[1] if isinstance(result.local_pred, dict) else result.local_pred
        score = result.score[1] if isinstance(result.score, dict) else result.score
        return LimeExplanation(
            applicant=plain(inputs.index[0]),
            probability_of_default=pd_,
            local_prediction=float(np.asarray(local).reshape(-1)[0]),
            fit_r2=float(score),
            factors=factors,
            customer_summary=summary,
            imputed=imputed,
        )


def lime_explain(
    bundle: ScoringBundle,
    row: Mapping[str, Any] | pd.Series | pd.DataFrame,
    *,
    background: pd.DataFrame,
    num_features: int = 6,
    num_samples: int = 1000,
    seed: int = 0,
) -> LimeExplanation:
    """Explain one applicant with LIME (see :class:`TabularLime`)."""
    explainer = TabularLime(bundle, background, num_samples=num_samples, seed=seed)
    return explainer.explain(row, num_features=num_features)
