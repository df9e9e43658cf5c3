"""Cut-off strategy: what each PD cut-off would do to approvals and bad rates.

The decision cut-offs (approve below, decline above) are the lender's policy, and the
right ones depend on the portfolio: 0.10 / 0.30 approve most of one book and few of
another. These tables show, on out-of-fold predictions (each applicant scored by a
model that did not train on them), what approving everyone up to a PD would give:

- :func:`strategy_table`: equal-count PD bands, safest first, with the cumulative
  approval rate, bad rate among the approved and a loss proxy (defaults approved per
  100 applicants) if the cut-off sat at the top of each band, and where the current
  cut-offs fall;
- :func:`cutoff_options`: the cut-off that reaches a target approval rate, or the
  highest one that keeps the bad rate among the approved under a target, next to the
  current cut-offs.

Approving "up to a cut-off" means approving every applicant whose PD is at or below it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from greenscore.evaluation.metrics import check_binary_scores

#: Approval rates the options table always shows.
APPROVAL_TARGETS = (0.5, 0.6, 0.7, 0.8, 0.9)
#: Bad-rate targets, as shares of the portfolio's default rate.
BAD_RATE_SHARES = (0.25, 0.5, 0.75)
BAD_RATE_RANGE = "a target bad rate must lie in (0, 1), got {rate}"
APPROVAL_RANGE = "a target approval rate must lie in (0, 1], got {rate}"


def cutoff_for_approval_rate(pd_: object, rate: float) -> float:
    """The PD cut-off at or below which a share ``rate`` of applicants falls.

    Raises
    ------
    ValueError
        If ``rate`` is not in (0, 1].
    """
    if not 0 < rate <= 1:
        raise ValueError(APPROVAL_RANGE.format(rate=rate))
    p = np.sort(np.asarray(pd_, dtype=float))
    return float(p[max(int(np.ceil(rate * len(p))) - 1, 0)])


def cutoff_for_bad_rate(y: object, pd_: object, rate: float) -> float | None:
    """The highest PD cut-off whose approved applicants default at no more than ``rate``.

    Returns None when even the safest applicant's cut-off exceeds the target.

    Raises
    ------
    ValueError
        If ``rate`` is not in (0, 1).
    """
    if not 0 < rate < 1:
        raise ValueError(BAD_RATE_RANGE.format(rate=rate))
    y_arr, p = check_binary_scores(y, pd_)
    order = np.argsort(p, kind="stable")
    sorted_p, sorted_y = p[order], y_arr[order]
    # Only the last row of a run of tied PDs is a cut-off one can actually set.
    last_of_tie = np.r_[sorted_p[1:] != sorted_p[:-1], True]
    cum_bad = np.cumsum(sorted_y) / np.arange(1, len(sorted_y) + 1)
    ok = np.flatnonzero(last_of_tie & (cum_bad <= rate))
    return float(sorted_p[ok[-1]]) if len(ok) else None


def _outcome(y: np.ndarray, p: np.ndarray, cutoff: float | None) -> dict[str, float | None]:
    if cutoff is None:
        return {"approval rate": None, "bad rate among approved": None}
    approved = p <= cutoff
    bads = y.sum()
    goods = len(y) - bads
    return {
        "approval rate": float(approved.mean()),
        "bad rate among approved": float(y[approved].mean()) if approved.any() else None,
        "defaults approved per 100 applicants": float(y[approved].sum() / len(y) * 100),
        "defaults declined": float(1 - y[approved].sum() / bads) if bads else None,
        "repayers declined": float(1 - (1 - y[approved]).sum() / goods) if goods else None,
    }


def strategy_table(
    y: object,
    pd_: object,
    *,
    approve_below: float,
    decline_above: float,
    n_bands: int = 10,
) -> pd.DataFrame:
    """Equal-count PD bands, safest first, with cumulative approval and bad rates.

    Parameters
    ----------
    y, pd_ : array-like of shape (n,)
        0/1 outcomes and out-of-fold probabilities of default.
    approve_below, decline_above : float
        The current cut-offs, marked in the band that holds them.
    n_bands : int
        Quantile bands (fewer when PDs tie).

    Returns
    -------
    DataFrame
        One row per band: ``band`` (1 = safest), ``PD from``, ``PD to``, ``applicants``,
        ``bad rate``, then if everyone up to this band were approved: ``approval rate``,
        ``bad rate among approved``, ``defaults approved per 100 applicants`` (a loss
        proxy), ``defaults declined``; and ``current cut-offs`` naming those in the band.
    """
    y_arr, p = check_binary_scores(y, pd_)
    codes = np.asarray(pd.qcut(p, q=n_bands, labels=False, duplicates="drop"), dtype=int)
    frame = pd.DataFrame({"band": codes + 1, "y": y_arr, "p": p})
    out = (
        frame.groupby("band", sort=True)
        .agg(pd_from=("p", "min"), pd_to=("p", "max"), applicants=("y", "size"), bads=("y", "sum"))
        .reset_index()
    )
    n, total_bads = len(y_arr), int(y_arr.sum())
    cum_count, cum_bads = out["applicants"].cumsum(), out["bads"].cumsum()
    out["bad rate"] = out["bads"] / out["applicants"]
    out["approval rate"] = cum_count / n
    out["bad rate among approved"] = cum_bads / cum_count
    out["defaults approved per 100 applicants"] = cum_bads / n * 100
    out["defaults declined"] = 1 - cum_bads / total_bads if total_bads else np.nan
    upper = out["pd_to"].to_numpy()
    lower = np.r_[-np.inf, upper[:-1]]

    def marks(row: int) -> str:
        found = [
            f"{label} {cut:g}"
            for label, cut in (("approve below", approve_below), ("decline above", decline_above))
            if lower[row] < cut <= upper[row] or (row == len(out) - 1 and cut > upper[row])
        ]
        return ", ".join(found)

    out["current cut-offs"] = [marks(i) for i in range(len(out))]
    return out.rename(columns={"pd_from": "PD from", "pd_to": "PD to"}).drop(columns="bads")


def cutoff_options(
    y: object,
    pd_: object,
    *,
    approve_below: float,
    decline_above: float,
    approval_rates: Sequence[float] = APPROVAL_TARGETS,
    bad_rates: Sequence[float] | None = None,
) -> pd.DataFrame:
    """Cut-offs for target approval rates and bad rates, beside the current ones.

    Parameters
    ----------
    y, pd_ : array-like of shape (n,)
        0/1 outcomes and out-of-fold probabilities of default.
    approve_below, decline_above : float
        The current cut-offs.
    approval_rates : sequence of float
        Target shares approved.
    bad_rates : sequence of float, optional
        Target bad rates among the approved; default a quarter, half and three quarters
        of the portfolio's default rate (to the nearest half point).

    Returns
    -------
    DataFrame
        One row per target: ``target``, ``PD cut-off`` (None when no cut-off reaches a
        bad-rate target), ``approval rate``, ``bad rate among approved``, ``defaults
        approved per 100 applicants``, ``defaults declined``, ``repayers declined``.
    """
    y_arr, p = check_binary_scores(y, pd_)
    if bad_rates is None:
        base = float(y_arr.mean())
        bad_rates = sorted({max(round(base * s * 200) / 200, 0.005) for s in BAD_RATE_SHARES})
        bad_rates = [r for r in bad_rates if 0 < r < 1]
    rows = [
        {
            "target": f"current: approve below {approve_below:g} (automatic approvals)",
            "PD cut-off": approve_below,
            **_outcome(y_arr, p, np.nextafter(approve_below, 0)),
        },
        {
            "target": f"current: decline above {decline_above:g} (approved or reviewed)",
            "PD cut-off": decline_above,
            **_outcome(y_arr, p, decline_above),
        },
    ]
    for rate in approval_rates:
        cut = cutoff_for_approval_rate(p, rate)
        rows.append({"target": f"approve {rate:.0%}", "PD cut-off": cut, **_outcome(y_arr, p, cut)})
    for rate in bad_rates:
        bad_cut = cutoff_for_bad_rate(y_arr, p, rate)
        rows.append(
            {
                "target": f"bad rate among approved at most {rate:.1%}",
                "PD cut-off": bad_cut,
                **_outcome(y_arr, p, bad_cut),
            }
        )
    return pd.DataFrame(rows)
