"""The MLflow ``pyfunc`` face of a ScoringBundle, so any MLflow tool can score with it.

The bundle folder travels as the model's artifact ``bundle``; the wrapper holds no
state of its own, so what MLflow pickles is only a reference to this class.
``predict`` takes raw application rows (extra columns are ignored) and returns the
probability of default per row.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from greenscore.models.bundle import ScoringBundle

#: Name of the bundle folder among the model's artifacts.
BUNDLE_ARTIFACT = "bundle"


class BundleModel(PythonModel):
    """``mlflow.pyfunc`` wrapper whose ``predict`` returns the probability of default."""

    bundle: ScoringBundle | None = None

    def load_context(self, context: Any) -> None:
        """Load the bundle from the model's artifacts."""
        self.bundle = ScoringBundle.load(context.artifacts[BUNDLE_ARTIFACT])

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Probability of default for each row of raw application data."""
        if self.bundle is None:
            self.load_context(context)
        bundle = self.bundle
        assert bundle is not None  # load_context set it
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return bundle.predict_pd(bundle.model_input(frame))
