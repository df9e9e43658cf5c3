"""How good synthetic data is, in three families: fidelity, privacy and utility.

* **Fidelity** — column shapes: 1 - the Kolmogorov-Smirnov statistic for numbers, 1 - the
  total variation distance for categories; pair trends: 1 - half the difference of Pearson
  correlations for two numbers, 1 - the total variation distance of the two-way table
  (numbers cut at the real quintiles) otherwise. Every score is in [0, 1], 1 is identical.
* **Privacy** — distance to closest record (DCR): how far each synthetic row is from its
  nearest real training row, against the same distance for real *hold-out* rows the
  synthesiser never saw (the baseline: a synthetic row much closer than a fresh real one
  is a copy in disguise). Membership inference: an attacker scores each real row by its
  distance to the nearest synthetic row and guesses "was in training" for the closest; the
  AUC of that guess over training and hold-out rows is 0.5 when the synthetic data gives
  membership away no better than chance. Exact copies of a training row are counted too.
* **Utility** — train on synthetic, test on real (TSTR): a LightGBM fitted on the
  synthetic rows and one fitted on the real training rows, both scored on the hold-out
  rows; the ratio of their AUCs.

Distances use numbers scaled by the training rows' interquartile range (standard deviation
when it is zero) with a flag for missing, and categories one-hot.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from greenscore.data.synthesize.layout import Layout
from greenscore.evaluation.metrics import auc

#: At most this many columns enter the pair trends (pairs grow with the square).
MAX_PAIR_COLUMNS = 30
#: Rows per side in the nearest-neighbour computations.
MAX_DISTANCE_ROWS = 3000


# ---------------------------------------------------------------------- fidelity
def _ks(real: np.ndarray, synthetic: np.ndarray) -> float:
    from scipy.stats import ks_2samp

    r, s = real[~np.isnan(real)], synthetic[~np.isnan(synthetic)]
    if not len(r) or not len(s):
        return float(len(r) == len(s))
    return 1.0 - float(ks_2samp(r, s, method="asymp").statistic)


def _tv(real: pd.Series, synthetic: pd.Series) -> float:
    a = real.astype(str).value_counts(normalize=True)
    b = synthetic.astype(str).value_counts(normalize=True)
    return 1.0 - 0.5 * float(a.sub(b, fill_value=0).abs().sum())


def _numbers(values: pd.Series) -> np.ndarray:
    """Numbers of a column; dates as days since 1970 (one origin for every frame)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return ((values - pd.Timestamp(0)) / pd.Timedelta(days=1)).to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def column_shapes(real: pd.DataFrame, synthetic: pd.DataFrame, layout: Layout) -> list[dict]:
    """One score per learnt column (KS for numbers, TV for categories)."""
    out = []
    for column in layout.learnt:
        if column in layout.numeric:
            score = _ks(_numbers(real[column]), _numbers(synthetic[column]))
            metric = "1 - KS"
        else:
            score, metric = _tv(real[column], synthetic[column]), "1 - TV distance"
        out.append({"column": column, "metric": metric, "score": score})
    return out


def _codes(real: pd.Series, synthetic: pd.Series, edges: np.ndarray | None) -> tuple:
    """Integer cell codes of both columns on one grid (real quintiles, or the levels)."""
    if edges is None:
        levels = {
            v: i for i, v in enumerate(sorted(set(real.astype(str)) | set(synthetic.astype(str))))
        }
        return (
            real.astype(str).map(levels).to_numpy(),
            synthetic.astype(str).map(levels).to_numpy(),
            len(levels),
        )
    out = []
    for values in (real, synthetic):
        numbers = _numbers(values)
        codes = np.searchsorted(edges, numbers, side="left")
        codes[np.isnan(numbers)] = len(edges) + 1  # missing: a cell of its own
        out.append(codes)
    return out[0], out[1], len(edges) + 2


def _joint_tv(a: tuple, b: tuple) -> float:
    """1 - total variation distance between the real and synthetic two-way tables."""
    (ra, sa, ka), (rb, sb, kb) = a, b
    real = np.bincount(ra * kb + rb, minlength=ka * kb) / len(ra)
    synthetic = np.bincount(sa * kb + sb, minlength=ka * kb) / len(sa)
    return 1.0 - 0.5 * float(np.abs(real - synthetic).sum())


def pair_trends(real: pd.DataFrame, synthetic: pd.DataFrame, layout: Layout) -> list[dict]:
    """One score per pair of learnt columns (the first :data:`MAX_PAIR_COLUMNS`)."""
    columns = layout.learnt[:MAX_PAIR_COLUMNS]
    numeric = {c for c in columns if c in layout.numeric}
    cells = {}
    for c in columns:
        edges = (
            np.unique(np.nanquantile(_numbers(real[c]), [0.2, 0.4, 0.6, 0.8]))
            if c in numeric
            else None
        )
        cells[c] = _codes(real[c], synthetic[c], edges)
    real_num = {c: pd.Series(_numbers(real[c])) for c in numeric}
    syn_num = {c: pd.Series(_numbers(synthetic[c])) for c in numeric}
    out = []
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            if a in numeric and b in numeric:
                r = real_num[a].corr(real_num[b])
                s = syn_num[a].corr(syn_num[b])
                r, s = (0.0 if np.isnan(r) else r), (0.0 if np.isnan(s) else s)
                out.append({"a": a, "b": b, "metric": "correlation", "real": float(r),
                            "synthetic": float(s), "score": 1.0 - abs(r - s) / 2})  # fmt: skip
                continue
            out.append({"a": a, "b": b, "metric": "contingency", "real": None,
                        "synthetic": None, "score": _joint_tv(cells[a], cells[b])})  # fmt: skip
    return out


def fidelity(real: pd.DataFrame, synthetic: pd.DataFrame, layout: Layout) -> dict[str, Any]:
    """Column shapes and pair trends, each with its mean score."""
    shapes = column_shapes(real, synthetic, layout)
    pairs = pair_trends(real, synthetic, layout)
    return {
        "column_shapes": {"score": float(np.mean([s["score"] for s in shapes])), "columns": shapes},
        "pair_trends": {
            "score": float(np.mean([p["score"] for p in pairs])) if pairs else None,
            "pairs": pairs,
        },
    }


# ---------------------------------------------------------------------- privacy
class _Space:
    """Rows as vectors for nearest-neighbour distances (scaled numbers, one-hot levels)."""

    def __init__(self, train: pd.DataFrame, layout: Layout) -> None:
        self.layout = layout
        self.scale: dict[str, tuple[float, float]] = {}
        for column in layout.numeric:
            x = _numbers(train[column])
            known = x[~np.isnan(x)]
            q1, q3 = np.quantile(known, [0.25, 0.75]) if len(known) else (0.0, 1.0)
            spread = (q3 - q1) or float(np.std(known)) or 1.0
            self.scale[column] = (float(np.median(known)) if len(known) else 0.0, spread)
        self.levels = {
            c: sorted(train[c].astype(str).unique())
            for c in layout.learnt
            if c not in layout.numeric
        }

    def vectors(self, frame: pd.DataFrame) -> np.ndarray:
        parts = []
        for column in self.layout.numeric:
            centre, spread = self.scale[column]
            x = (_numbers(frame[column]) - centre) / spread
            parts += [np.nan_to_num(x), np.isnan(x).astype(float)]
        for column, levels in self.levels.items():
            text = frame[column].astype(str).to_numpy()
            parts += [(text == level).astype(float) for level in levels]
        return np.column_stack(parts) if parts else np.zeros((len(frame), 1))


def _nearest(reference: np.ndarray, queries: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1).fit(reference)
    distances, _ = index.kneighbors(queries)
    return distances[:, 0]


def _rows(frame: pd.DataFrame, limit: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= limit:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), limit, replace=False))]


def privacy(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    layout: Layout,
    *,
    seed: int = 0,
) -> dict[str, Any]:
    """DCR of synthetic rows against hold-out rows, membership-inference AUC, exact copies."""
    rng = np.random.default_rng(seed)
    space = _Space(train, layout)
    train_rows = _rows(train, MAX_DISTANCE_ROWS * 3, rng)
    members = _rows(train, min(len(holdout), MAX_DISTANCE_ROWS), rng)
    strangers = _rows(holdout, MAX_DISTANCE_ROWS, rng)
    fakes = _rows(synthetic, MAX_DISTANCE_ROWS, rng)
    reference = space.vectors(train_rows)
    dcr_synthetic = _nearest(reference, space.vectors(fakes))
    dcr_holdout = _nearest(reference, space.vectors(strangers))
    fake_space = space.vectors(_rows(synthetic, MAX_DISTANCE_ROWS * 3, rng))
    to_member = _nearest(fake_space, space.vectors(members))
    to_stranger = _nearest(fake_space, space.vectors(strangers))
    guess = np.r_[-to_member, -to_stranger]
    truth = np.r_[np.ones(len(to_member)), np.zeros(len(to_stranger))]
    p5 = float(np.quantile(dcr_holdout, 0.05))
    return {
        "dcr": {
            "synthetic_median": float(np.median(dcr_synthetic)),
            "holdout_median": float(np.median(dcr_holdout)),
            "synthetic_p05": float(np.quantile(dcr_synthetic, 0.05)),
            "holdout_p05": p5,
            "share_closer_than_holdout_p05": float(np.mean(dcr_synthetic < p5)),
            "synthetic": dcr_synthetic.tolist(),
            "holdout": dcr_holdout.tolist(),
        },
        "membership_inference_auc": auc(truth, _to_unit(guess)),
        "exact_copies": int(np.sum(dcr_synthetic == 0)),
        "rows_compared": {
            "synthetic": len(fakes),
            "holdout": len(strangers),
            "train": len(train_rows),
        },
    }


def _to_unit(scores: np.ndarray) -> np.ndarray:
    """Scores squeezed into [0, 1] with their order kept (AUC reads only the order)."""
    low, high = float(scores.min()), float(scores.max())
    return (scores - low) / (high - low) if high > low else np.full(len(scores), 0.5)


# ---------------------------------------------------------------------- utility
def _matrix(frame: pd.DataFrame, features: list[str], levels: dict[str, list[str]]) -> pd.DataFrame:
    out = {}
    for column in features:
        if column in levels:
            out[column] = pd.Categorical(frame[column].astype(str), categories=levels[column])
        else:
            out[column] = _numbers(frame[column])
    return pd.DataFrame(out)


def utility(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    synthetic: pd.DataFrame,
    layout: Layout,
    *,
    target: str,
    y: dict[str, np.ndarray],
    features: list[str],
    seed: int = 0,
) -> dict[str, Any]:
    """TSTR against TRTR AUC on the real hold-out rows, with the same LightGBM settings.

    ``y`` holds the 0/1 target of ``train``, ``holdout`` and ``synthetic``; ``features``
    are the model's input columns (the spec's features among the learnt columns).
    """
    from lightgbm import LGBMClassifier

    categorical = [c for c in features if c not in layout.numeric]
    levels = {
        c: sorted(set(train[c].astype(str)) | set(synthetic[c].astype(str))) for c in categorical
    }
    scores = {}
    for name, frame in (("real", train), ("synthetic", synthetic)):
        model = LGBMClassifier(
            n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=20,
            n_jobs=1, random_state=seed, verbose=-1,
        )  # fmt: skip
        model.fit(_matrix(frame, features, levels), y[name if name == "synthetic" else "train"])
        # LightGBM types predict_proba as possibly sparse; for a dense matrix it is an array.
        p = np.asarray(model.predict_proba(_matrix(holdout, features, levels)))[:, 1]
        scores[name] = auc(y["holdout"], p)
    return {
        "model": "LightGBM (200 trees, learning rate 0.05, 31 leaves)",
        "target": target,
        "features": features,
        "trtr_auc": scores["real"],
        "tstr_auc": scores["synthetic"],
        "ratio": scores["synthetic"] / scores["real"],
    }
