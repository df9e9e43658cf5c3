"""The documents ``greenscore train`` writes into its run folder, and which of them the
MLflow run keeps as artifacts.

Called once the run's metrics, report and bundles are written: it adds the evidence only
the training process holds (out-of-fold performance by segment and group, the lineage at
training time), then generates the model card and the compliance documents from the files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from greenscore.data.loading import Dataset
from greenscore.documentation.card import CARD_STEM, write_card
from greenscore.documentation.lineage import LINEAGE_FILE, capture_lineage
from greenscore.documentation.performance import PERFORMANCE_FILE, run_performance
from greenscore.json_document import write_json

#: Files of the run folder attached to the MLflow run (those that exist).
ARTIFACTS = (
    PERFORMANCE_FILE,
    LINEAGE_FILE,
    f"{CARD_STEM}.md",
    f"{CARD_STEM}.html",
    "sr11-7.md",
    "sr11-7.html",
    "annex-iv.md",
    "annex-iv.html",
)


def write_run_documents(
    out: Path, dataset: Dataset, oofs: dict[str, np.ndarray], metrics: dict[str, Any]
) -> list[Path]:
    """Write performance.json, lineage.json, the model card and the compliance documents."""
    from greenscore.documentation.dossier import write_dossier

    performance = run_performance(dataset.y, oofs, dataset.frame, dataset.spec)
    write_json(out / PERFORMANCE_FILE, performance)
    lineage = capture_lineage(
        dataset_sha256=dataset.sha256,
        rows=len(dataset.y),
        location=dataset.location,
        spec_name=dataset.spec.name,
        seed=int(metrics.get("cv", {}).get("seed", 0)),
    )
    write_json(out / LINEAGE_FILE, lineage)
    return [*write_card(out), *write_dossier(out)]


def artifact_paths(out: Path) -> list[Path]:
    """The run's documents and their evidence that exist, for the MLflow run."""
    return [out / name for name in ARTIFACTS if (out / name).is_file()]
