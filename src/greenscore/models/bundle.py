"""ScoringBundle: the unit that is registered, versioned, served and audited.

A bundle holds the fitted feature pipeline and model as one scikit-learn ``Pipeline``
(raw model input in, probability of default out), the dataset spec, the scaling and
cut-offs used to turn a PD into points and a decision, and metadata (metrics, energy,
lineage, training ranges). It is saved as a folder: ``bundle.joblib`` plus readable
``metadata.json`` and ``spec.yaml``, stamped with the GreenScore version.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

import greenscore
from greenscore.config import ScoringSettings
from greenscore.data.loading import model_input
from greenscore.data.spec import DatasetSpec
from greenscore.errors import ModelError, NotFoundError
from greenscore.models.scaling import decisions_from_pd, points_from_pd

BUNDLE_FILE = "bundle.joblib"
METADATA_FILE = "metadata.json"
SPEC_FILE = "spec.yaml"


@dataclass
class ScoringBundle:
    """A fitted credit model ready to score raw applications.

    Attributes
    ----------
    name : model name (``lightgbm``, ``scorecard``, …).
    spec : what the input columns mean.
    pipeline : fitted ``Pipeline`` whose last step is the classifier; earlier steps
        are the feature transformers (DataFrame in, DataFrame out).
    scoring : points scaling and decision cut-offs.
    metadata : metrics, energy, lineage, training feature ranges, versions.
    """

    name: str
    spec: DatasetSpec
    pipeline: Pipeline
    scoring: ScoringSettings = field(default_factory=ScoringSettings)
    metadata: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------ parts
    @property
    def features(self) -> Pipeline:
        """The fitted feature steps (everything before the classifier)."""
        return self.pipeline[:-1]

    @property
    def estimator(self) -> Any:
        """The fitted classifier (last pipeline step)."""
        return self.pipeline[-1]

    # ------------------------------------------------------------ scoring
    def model_input(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Select and index the spec's feature columns from a raw applications frame."""
        return model_input(frame, self.spec)

    def predict_pd(self, X: pd.DataFrame) -> np.ndarray:  # noqa: N803
        """Probability of default for model-input rows (see :meth:`model_input`)."""
        check_is_fitted(self.estimator)
        return self.pipeline.predict_proba(X)[:, 1]

    def points(self, pd_: np.ndarray) -> np.ndarray:
        """Scorecard points for probabilities of default."""
        s = self.scoring
        return points_from_pd(pd_, base_score=s.base_score, base_odds=s.base_odds, pdo=s.pdo)

    def decisions(self, pd_: np.ndarray) -> np.ndarray:
        """approve / review / decline for probabilities of default."""
        s = self.scoring
        return decisions_from_pd(pd_, approve_below=s.approve_below, decline_above=s.decline_above)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Score a raw applications frame: PD, points and decision per row, same order."""
        pd_ = self.predict_pd(self.model_input(frame))
        out = pd.DataFrame(
            {
                "probability_of_default": pd_,
                "score": np.round(self.points(pd_), 1),
                "decision": self.decisions(pd_),
            },
            index=frame.index,
        )
        if self.spec.id_column and self.spec.id_column in frame.columns:
            out.insert(0, self.spec.id_column, frame[self.spec.id_column].to_numpy())
        return out

    # ------------------------------------------------------------ files
    def save(self, folder: Path | str) -> Path:
        """Write the bundle to a folder and return it."""
        from greenscore.privacy.at_rest import encryption_enabled, save_encrypted_bundle

        folder = Path(folder)
        self.metadata.setdefault("greenscore_version", greenscore.__version__)
        if encryption_enabled():
            return save_encrypted_bundle(self, folder)
        folder.mkdir(parents=True, exist_ok=True)
        joblib.dump(self, folder / BUNDLE_FILE, compress=3)
        (folder / METADATA_FILE).write_text(
            json.dumps({"name": self.name, **self.metadata}, indent=2, default=str), "utf-8"
        )
        self.spec.to_yaml(folder / SPEC_FILE)
        return folder

    @classmethod
    def load(cls, folder: Path | str) -> ScoringBundle:
        """Load a bundle folder saved by :meth:`save`.

        Raises
        ------
        NotFoundError
            If there is no bundle there.
        ModelError
            If the file is not a GreenScore bundle.
        """
        from greenscore.privacy.at_rest import is_encrypted_bundle, load_encrypted_bundle

        path = Path(folder)
        if is_encrypted_bundle(path):
            bundle = load_encrypted_bundle(path)
            _warn_on_version(bundle)
            return bundle
        target = path / BUNDLE_FILE if path.is_dir() else path
        if not target.exists():
            raise NotFoundError(f"no model bundle at {folder}")
        try:
            bundle = joblib.load(target)
        except Exception as exc:  # a corrupt or foreign file can fail in many ways
            raise ModelError(f"{target} is not a readable GreenScore bundle: {exc}") from exc
        if not isinstance(bundle, cls):
            raise ModelError(f"{target} holds a {type(bundle).__name__}, not a ScoringBundle")
        _warn_on_version(bundle)
        return bundle


def _warn_on_version(bundle: ScoringBundle) -> None:
    saved = bundle.metadata.get("greenscore_version")
    if saved != greenscore.__version__:
        warnings.warn(
            f"bundle saved by GreenScore {saved}, loading with {greenscore.__version__}",
            stacklevel=3,
        )
