"""Which characteristics enter a WoE scorecard, and a record of every one left out and why.

Scorecard practice, in the order the scorecard applies it:

1. a quick information-value screen (deciles or levels) before optimal binning;
2. a minimum IV after optimal binning (optbinning's selection criteria);
3. near-duplicates: of two characteristics whose WoE values correlate above a cut, the
   derived one goes in favour of the given column it restates (``loan_to_income`` vs
   ``loan_percent_income``), else the one with less IV;
4. variance inflation above a cut (derived characteristics first);
5. signs: optbinning's WoE is ``log(share of goods / share of bads)``, so a higher WoE
   means lower risk and every coefficient of the logistic regression of default on WoE
   must be negative. A positive one means the characteristic is standing in for others
   (collinearity), and its points would run against its own bad rates; the worst is
   removed and the regression refitted until every sign is right;
6. a cap on the number of characteristics, keeping the highest IV, with the signs checked
   again after it (capping first would spend places on characteristics the sign step
   then removes: on Taiwan, 20 capped became 14).

Each removal is a :class:`Removal` row: characteristic, step, a sentence, the
correlation partner (if any) and the figure that decided it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from greenscore.features.selection import decorrelate, drop_by_vif

#: Step labels, in the order the steps run.
IV_SCREEN = "iv screen"
MIN_IV = "minimum iv"
NEAR_DUPLICATE = "near-duplicate"
VIF = "variance inflation"
CAP = "characteristic cap"
WRONG_SIGN = "wrong sign"
STEPS = (IV_SCREEN, MIN_IV, NEAR_DUPLICATE, VIF, CAP, WRONG_SIGN)
REMOVAL_COLUMNS = ["characteristic", "step", "reason", "partner", "value"]


@dataclass(frozen=True)
class Removal:
    """One characteristic left out of the scorecard.

    Attributes
    ----------
    characteristic : the feature's name.
    step : one of :data:`STEPS`.
    reason : a sentence a reviewer can read.
    partner : the kept characteristic it duplicates (near-duplicates only), else None.
    value : the deciding figure: IV, correlation, VIF or coefficient.
    """

    characteristic: str
    step: str
    reason: str
    partner: str | None
    value: float


def removal_frame(removals: Sequence[Removal]) -> pd.DataFrame:
    """Removals as a table with :data:`REMOVAL_COLUMNS`."""
    return pd.DataFrame([asdict(r) for r in removals], columns=REMOVAL_COLUMNS)


def decile_iv(values: pd.Series, y: np.ndarray, categorical: bool) -> float:
    """Information value over deciles (or levels), missing as its own bin: a quick screen."""
    if categorical:
        bins = values.fillna("__missing__").astype(str)
    else:
        ranked = values.rank(method="first")
        bins = pd.qcut(ranked, q=min(10, max(1, ranked.nunique())), labels=False, duplicates="drop")
        bins = bins.astype("float").fillna(-1)
    table = pd.crosstab(bins, y).reindex(columns=[0, 1], fill_value=0) + 0.5
    good, bad = table[0] / table[0].sum(), table[1] / table[1].sum()
    return float(((good - bad) * np.log(good / bad)).sum())


def screen_by_iv(
    data: pd.DataFrame, y: np.ndarray, *, categorical: Sequence[str], keep: int | None
) -> tuple[list[str], list[Removal]]:
    """The ``keep`` characteristics with the highest decile IV, in the data's order.

    Optimal binning costs time per characteristic, and a reviewable scorecard has tens of
    characteristics, not hundreds: this screen decides which are worth binning.
    """
    columns = list(data.columns)
    if keep is None or len(columns) <= keep:
        return columns, []
    iv = {c: decile_iv(data[c], y, c in categorical) for c in columns}
    ranked = sorted(columns, key=lambda c: iv[c], reverse=True)
    chosen = set(ranked[:keep])
    removals = [
        Removal(c, IV_SCREEN, f"decile IV {iv[c]:.4f} not among the {keep} highest", None, iv[c])
        for c in ranked[keep:]
    ]
    return [c for c in columns if c in chosen], removals  # data order keeps tables stable


def below_min_iv(iv: pd.Series, min_iv: float) -> list[Removal]:
    """Characteristics whose binned IV is under the minimum."""
    return [
        Removal(str(name), MIN_IV, f"IV {value:.4f} below the minimum {min_iv:g}", None, value)
        for name, value in iv.items()
        if value < min_iv
    ]


def choose_characteristics(
    woe: pd.DataFrame,
    iv: pd.Series,
    *,
    derived: set[str],
    max_correlation: float,
    max_vif: float | None,
) -> tuple[list[str], list[Removal]]:
    """Steps 3-4: near-duplicates and variance inflation, on WoE-coded training rows.

    Parameters
    ----------
    woe : DataFrame of shape (n_samples, n_characteristics)
        The characteristics that passed the minimum IV, WoE-transformed.
    iv : Series
        IV per characteristic.
    derived : set of str
        Characteristics built by the feature pipeline (they give way to given columns).
    max_correlation : float
        Largest |correlation| allowed between two kept characteristics.
    max_vif : float or None
        Largest variance inflation factor allowed (None: no VIF step).

    Returns
    -------
    kept : list of str, in ``woe``'s column order
    removals : list of Removal
    """
    names = list(woe.columns)
    matrix = woe.to_numpy(dtype=float)
    removals: list[Removal] = []
    # Given columns before derived ones, each by IV: the earlier of a correlated pair stays.
    order = sorted(range(len(names)), key=lambda j: (names[j] in derived, -float(iv[names[j]])))
    with np.errstate(all="ignore"):
        corr = np.corrcoef(matrix, rowvar=False) if len(names) > 1 else np.ones((1, 1))
    live = []
    for j, (keep, partner, r) in enumerate(decorrelate(corr, order, max_correlation)):
        if keep:
            live.append(j)
            continue
        why = "derived from the data it restates" if names[j] in derived else "lower IV"
        removals.append(
            Removal(
                names[j],
                NEAR_DUPLICATE,
                f"WoE correlation {r:+.4f} with '{names[partner]}' beyond ±{max_correlation:g} "
                f"({why})",
                names[partner],
                r,
            )
        )
    if max_vif is not None and len(live) > 1:
        first = np.array([names[j] in derived for j in live])
        dropped, _ = drop_by_vif(matrix[:, live], max_vif, first=first)
        gone = set()
        for at, vif in dropped:
            gone.add(live[at])
            removals.append(
                Removal(
                    names[live[at]],
                    VIF,
                    f"variance inflation {vif:.3g} above {max_vif:g}",
                    None,
                    vif,
                )
            )
        live = [j for j in live if j not in gone]
    return [names[j] for j in sorted(live)], removals


def cap_by_iv(
    kept: Sequence[str], iv: pd.Series, cap: int | None
) -> tuple[list[str], list[Removal]]:
    """The ``cap`` characteristics with the highest IV, in their order; the rest as removals."""
    if cap is None or len(kept) <= cap:
        return list(kept), []
    ranked = sorted(kept, key=lambda c: -float(iv[c]))
    removals = [
        Removal(c, CAP, f"IV {float(iv[c]):.4f}, not among the {cap} strongest", None, float(iv[c]))
        for c in ranked[cap:]
    ]
    chosen = set(ranked[:cap])
    return [c for c in kept if c in chosen], removals


def worst_wrong_sign(names: Sequence[str], coef: np.ndarray) -> Removal | None:
    """The characteristic with the most positive WoE coefficient, or None if all are negative."""
    coef = np.asarray(coef, dtype=float).reshape(-1)
    if len(coef) == 0 or coef.max() < 0:
        return None
    at = int(np.argmax(coef))
    return Removal(
        names[at],
        WRONG_SIGN,
        f"coefficient {coef[at]:+.4f} on its WoE (must be negative: a higher WoE means lower "
        "risk); removed and the regression refitted",
        None,
        float(coef[at]),
    )
