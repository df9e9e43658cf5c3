"""The built-in synthetic credit data generator (``greenscore generate``).

It writes loan applications that look and behave like a retail lender's book, with the
structure the rest of GreenScore is tested against planted on purpose and documented in a
datasheet: non-linear risk with interactions, variable-length monthly histories, a borrower
graph that carries signal the row's own features do not, a population shift in the last six
months, and a proxy bias through which sex reaches decisions without being a feature.

The generative story, in order: application dates; demographics (sex, age, education,
region, employment, income, housing); a hidden financial *fragility* per person; bureau
attributes and twelve months of balance, payment and days-past-due drawn from that fragility;
the loan (purpose, amount, term, and a rate priced from the lender's view of risk); the
borrower graph (households, employers, guarantors); and finally default, drawn from a latent
risk that mixes what the features show, what they do not (shared household and employer
shocks) and contagion from linked borrowers. Every draw comes from one seeded NumPy generator
(and a Faker instance seeded with the same number), so a seed gives identical frames and
byte-identical files. Everything is vectorised: 20,000 rows take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from greenscore.errors import ConfigError

APPLICATIONS_FILE = "applications.parquet"
RELATIONS_FILE = "relations.parquet"
DATASHEET_FILE = "datasheet.md"

MIN_ROWS = 20
MIN_DEFAULT_RATE, MAX_DEFAULT_RATE = 0.01, 0.5
ERR_ROWS = "rows must be an integer of at least {minimum}, got {value!r}"
ERR_SEED = "seed must be a non-negative integer, got {value!r}"
ERR_RATE = "default_rate must be between {low} and {high}, got {value!r}"

START_DATE = np.datetime64("2023-01-01")
END_DATE = np.datetime64("2025-01-01")  # exclusive: 24 calendar months
MONTHS = 24
DRIFT_MONTHS = 6
HISTORY = 12
MONTH_LABELS = [f"m{m:02d}" for m in range(1, HISTORY + 1)]
BALANCE_COLUMNS = [f"balance_{m}" for m in MONTH_LABELS]
PAYMENT_COLUMNS = [f"payment_{m}" for m in MONTH_LABELS]
DPD_COLUMNS = [f"dpd_{m}" for m in MONTH_LABELS]

RELATION_KINDS = ("co_applicant", "shared_employer", "guarantor")

# US Census divisions: states (for addresses), share of applicants, log-income effect and a
# small regional-economy effect on risk.
REGIONS: dict[str, tuple[tuple[str, ...], float, float, float]] = {
    "new_england": (("CT", "ME", "MA", "NH", "RI", "VT"), 0.046, 0.12, -0.05),
    "mid_atlantic": (("NJ", "NY", "PA"), 0.126, 0.10, 0.0),
    "east_north_central": (("IL", "IN", "MI", "OH", "WI"), 0.142, -0.02, 0.05),
    "west_north_central": (("IA", "KS", "MN", "MO", "NE", "ND", "SD"), 0.065, -0.03, -0.05),
    "south_atlantic": (("DE", "DC", "FL", "GA", "MD", "NC", "SC", "VA", "WV"), 0.200, 0.0, 0.05),
    "east_south_central": (("AL", "KY", "MS", "TN"), 0.058, -0.15, 0.12),
    "west_south_central": (("AR", "LA", "OK", "TX"), 0.125, -0.05, 0.05),
    "mountain": (("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY"), 0.078, 0.0, 0.0),
    "pacific": (("AK", "CA", "HI", "OR", "WA"), 0.160, 0.12, -0.05),
}
# education: share, log-income effect, direct risk effect
EDUCATION: dict[str, tuple[float, float, float]] = {
    "secondary": (0.34, -0.20, 0.15),
    "vocational": (0.18, -0.05, 0.05),
    "bachelor": (0.30, 0.15, 0.0),
    "master": (0.15, 0.30, -0.10),
    "doctorate": (0.03, 0.45, -0.15),
}
# loan purpose: share, log-amount effect, direct risk effect
PURPOSES: dict[str, tuple[float, float, float]] = {
    "debt_consolidation": (0.30, 0.10, 0.15),
    "home_improvement": (0.14, 0.20, -0.15),
    "car": (0.16, 0.15, -0.10),
    "education": (0.06, -0.10, 0.10),
    "medical": (0.07, -0.40, 0.30),
    "business": (0.07, 0.35, 0.35),
    "major_purchase": (0.10, -0.20, 0.0),
    "other": (0.10, -0.30, 0.10),
}
DRIFT_PURPOSE = "debt_consolidation"
HOUSING = ("own", "mortgage", "rent", "family")
HOUSING_RISK = {"own": -0.25, "mortgage": 0.0, "rent": 0.15, "family": 0.10}
MARITAL = ("single", "married", "divorced", "widowed")
TERMS = np.array([12, 24, 36, 48, 60])
# The planted proxy paths from sex to risk: a pay gap (log-income) and shorter tenure.
PAY_GAP = 0.25
FEMALE_TENURE_FACTOR = 0.55


@dataclass(frozen=True)
class RiskModel:
    """Coefficients of the latent default risk (logit units); the datasheet prints them.

    The observable part reads the generated features (true values, before missingness):
    ``util_sq * utilisation^2 + util_x_dpd_trend * utilisation * max(dpd trend, 0)
    + recent_dpd * min(recent max dpd / 30, 3) + delinquencies * log1p(delinquencies)
    + inquiries * min(inquiries, 8) + pti * max(payment-to-income - pti_knee, 0)
    + income steps + short-employment and thin-file steps + age_u * ((age - 45) / 13)^2
    + category effects``. The hidden part adds ``fragility * z`` (the person's unobserved
    fragility), a household shock, an employer shock and ``contagion`` times the share of
    linked borrowers who defaulted in a first draw; logistic noise makes it a draw.
    """

    util_sq: float = 1.4
    util_x_dpd_trend: float = 1.3
    recent_dpd: float = 0.55
    delinquencies: float = 0.45
    inquiries: float = 0.12
    pti: float = 5.0
    pti_knee: float = 0.12
    income_below_20k: float = 0.7
    income_below_32k: float = 0.35
    income_above_110k: float = -0.3
    employment_below_1y: float = 0.6
    employment_below_3y: float = 0.2
    history_below_2y: float = 0.35
    age_u: float = 0.3
    fragility: float = 0.35
    household_sd: float = 1.2
    employer_sd: float = 1.0
    contagion: float = 1.2
    early_share: float = 0.5
    early_strength: float = 3.0
    early_utilisation: float = 0.25
    sex: float = 0.0  # no direct effect: sex acts only through the features it shapes
    scale: float = 1.0


RISK = RiskModel()


@dataclass(frozen=True)
class SyntheticData:
    """One generated dataset.

    Attributes
    ----------
    applications : DataFrame, one row per applicant, columns as in the ``synthetic`` preset.
    relations : DataFrame of borrower links (``source_id``, ``target_id``, ``relation``).
    datasheet : Markdown datasheet describing how the data was made and what is planted.
    """

    applications: pd.DataFrame
    relations: pd.DataFrame
    datasheet: str

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write the three parts into ``out_dir`` (created if needed).

        Returns
        -------
        dict
            ``{"applications": path, "relations": path, "datasheet": path}``.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {
            "applications": out / APPLICATIONS_FILE,
            "relations": out / RELATIONS_FILE,
            "datasheet": out / DATASHEET_FILE,
        }
        # Fixed engine, compression and no index keep the bytes a function of the frame alone.
        self.applications.to_parquet(
            paths["applications"], engine="pyarrow", compression="zstd", index=False
        )
        self.relations.to_parquet(
            paths["relations"], engine="pyarrow", compression="zstd", index=False
        )
        paths["datasheet"].write_text(self.datasheet, encoding="utf-8")
        return paths


# --------------------------------------------------------------------------- helpers
def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, logits: np.ndarray) -> np.ndarray:
    """One categorical draw per row from unnormalised log-probabilities (Gumbel-max)."""
    return np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)


def _top_k(score: np.ndarray, k: int) -> np.ndarray:
    """0/1 flags of the ``k`` largest scores (exact count, stable on ties)."""
    flags = np.zeros(len(score), dtype=np.int64)
    if k > 0:
        flags[np.argsort(-score, kind="stable")[:k]] = 1
    return flags


def _validate(rows: int, seed: int, default_rate: float) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < MIN_ROWS:
        raise ConfigError(ERR_ROWS.format(minimum=MIN_ROWS, value=rows))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(ERR_SEED.format(value=seed))
    if not MIN_DEFAULT_RATE <= float(default_rate) <= MAX_DEFAULT_RATE:
        raise ConfigError(
            ERR_RATE.format(low=MIN_DEFAULT_RATE, high=MAX_DEFAULT_RATE, value=default_rate)
        )


# --------------------------------------------------------------------------- people
def _dates(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted application dates, their month index (0..23) and drift weight (0..1)."""
    span = int((END_DATE - START_DATE).astype(int))
    dates = np.sort(START_DATE + rng.integers(0, span, n).astype("timedelta64[D]"))
    month = dates.astype("datetime64[M]").astype(int) - START_DATE.astype("datetime64[M]").astype(
        int
    )
    # Ramps from 0 before the last six months to 1 in the final month: a gradual shift.
    drift = np.clip((month - (MONTHS - DRIFT_MONTHS - 1)) / DRIFT_MONTHS, 0.0, 1.0)
    return dates, month, drift


def _people(rng: np.random.Generator, n: int, drift: np.ndarray) -> dict[str, np.ndarray]:
    """Demographics, employment, income and housing (true values, no missingness yet)."""
    female = rng.random(n) < 0.49
    # Right-skewed adult ages; the late population is younger (drift).
    age = np.floor(21 + rng.gamma(2.2, 9.0, n) * (1 - 0.3 * drift)).clip(21, 85).astype(np.int64)
    a = age - 21.0

    edu_p = np.log([v[0] for v in EDUCATION.values()])
    edu_logits = np.tile(edu_p, (n, 1))
    edu_logits[:, 3:] += np.where(age < 26, -1.0, 0.0)[:, None]  # few young postgraduates
    education = _pick(rng, edu_logits)

    region_names = list(REGIONS)
    region = rng.choice(len(region_names), n, p=[REGIONS[r][1] for r in region_names])

    has_employer = rng.random(n) < 0.87
    # Career breaks shorten women's current tenure: one of the planted proxy paths.
    tenure = rng.gamma(1.4, 4.6, n) * np.where(female, FEMALE_TENURE_FACTOR, 1.0)
    employment_years = np.minimum(tenure, np.maximum(age - 18.0, 0.2)).round(1)

    edu_eff = np.array([v[1] for v in EDUCATION.values()])[education]
    reg_eff = np.array([REGIONS[r][2] for r in region_names])[region]
    log_income = (
        np.log(28_000)
        + edu_eff
        + reg_eff
        + 0.045 * a
        - 0.0009 * a**2
        + 0.025 * np.minimum(employment_years, 12)
        - PAY_GAP * female  # the other planted proxy path
        - 0.25 * (age > 65)
        + rng.normal(0, 1, n) * np.where(has_employer, 0.42, 0.65)
    )
    income = np.maximum(np.round(np.exp(log_income), -2), 6_000.0)

    li = np.log(income / 45_000)
    housing_logits = np.column_stack(
        [
            -3.0 + 0.07 * a + 0.3 * li,
            -0.8 + 0.09 * a - 0.0018 * a**2 + 0.8 * li,
            np.full(n, 0.4),
            1.5 - 0.3 * a,
        ]
    )
    housing = _pick(rng, housing_logits)

    marital_logits = np.column_stack(
        [
            np.full(n, 0.5) - 0.08 * a,
            -1.0 + 0.12 * a - 0.0015 * a**2,
            -3.5 + 0.05 * a,
            -7.0 + 0.1 * a,
        ]
    )
    marital = _pick(rng, marital_logits)

    z_income = (np.log(income) - np.log(income).mean()) / max(np.log(income).std(), 1e-9)
    fragility = 0.85 * rng.normal(0, 1, n) - 0.3 * z_income + 0.25 * (age < 25)
    return {
        "female": female,
        "age": age,
        "education": education,
        "region": region,
        "has_employer": has_employer,
        "employment_years": employment_years,
        "income": income,
        "housing": housing,
        "marital": marital,
        "fragility": fragility,
    }


# --------------------------------------------------------------------------- behaviour
def _histories(
    rng: np.random.Generator, p: dict[str, np.ndarray], drift: np.ndarray, shock: np.ndarray
) -> dict[str, np.ndarray]:
    """Bureau attributes and 12 monthly balances, payments and days past due (m01 oldest).

    ``shock`` is the person's household plus employer shock: it shows in the last months
    of the history only for the members it reached early, so a group's shock is read
    best from several members' histories at once (what a graph model can do).
    """
    n = len(drift)
    z = p["fragility"]
    early = (rng.random(n) < RISK.early_share) * shock
    deteriorating = rng.random(n) < _sigmoid(-2.3 + 1.0 * z + 0.5 * drift)
    utilisation = np.clip(
        _sigmoid(-1.0 + 1.0 * z + 0.6 * drift + 0.35 * rng.normal(0, 1, n)) + 0.15 * deteriorating,
        0.0,
        1.0,
    )
    # Newer customers: the first months of the window precede their account (leading NaNs).
    months_on_book = np.where(rng.random(n) < 0.7, HISTORY, rng.integers(2, HISTORY, n))
    first = HISTORY - months_on_book
    limit = np.maximum(np.round(p["income"] * rng.uniform(0.08, 0.3, n), -2), 500.0)
    slope = np.where(deteriorating, rng.uniform(0.15, 0.4, n), rng.normal(0, 0.04, n))
    transactor = rng.random(n) < _sigmoid(0.3 - 1.5 * z)

    t = np.arange(HISTORY)
    ramp = np.maximum(t - (HISTORY - 5), 0) / 4  # the shock builds over the last four months
    util_path = utilisation[:, None] - slope[:, None] * (HISTORY - 1 - t) / (HISTORY - 1)
    util_path = util_path + RISK.early_utilisation * early[:, None] * ramp
    util_path = np.clip(util_path + rng.normal(0, 0.05, (n, HISTORY)), 0.0, 1.05)
    utilisation = np.clip(utilisation + RISK.early_utilisation * early, 0.0, 1.0)
    balance = np.round(util_path * limit[:, None], 2)

    dpd = np.zeros((n, HISTORY))
    payment = np.zeros((n, HISTORY))
    episodes = np.zeros(n, dtype=np.int64)
    state = np.zeros(n, dtype=np.int64)
    for m in range(HISTORY):
        active = m >= first
        hit = RISK.early_strength * early * ramp[m]
        p_miss = _sigmoid(
            -4.0 + 1.0 * z + 2.2 * deteriorating * (m / 11) + 1.2 * util_path[:, m] + hit
        )
        missed = active & (rng.random(n) < p_miss)
        episodes += missed & (state == 0)
        state = np.where(missed, np.minimum(state + 1, 4), 0)
        minor = active & (state == 0) & (rng.random(n) < 0.05)
        dpd[:, m] = np.where(minor, rng.integers(1, 30, n), 30 * state)
        previous = balance[:, m - 1] if m > 0 else balance[:, 0]
        previous = np.where(m == first, balance[:, m], previous)
        minimum_due = np.minimum(np.maximum(25.0, 0.03 * previous), previous)
        partial = np.where(rng.random(n) < 0.5, 0.0, minimum_due * rng.uniform(0.1, 0.8, n))
        regular = np.where(
            transactor, previous, np.maximum(minimum_due, previous * rng.uniform(0.03, 0.25, n))
        )
        payment[:, m] = np.round(np.where(missed, partial, np.minimum(regular, previous)), 2)

    before = t[None, :] < first[:, None]
    for arr in (balance, payment, dpd):
        arr[before] = np.nan

    recent = dpd[:, -3:]
    earlier = np.where(np.isnan(dpd[:, :-3]), 0.0, dpd[:, :-3])
    n_earlier = (~np.isnan(dpd[:, :-3])).sum(axis=1)
    earlier_mean = np.where(n_earlier > 0, earlier.sum(axis=1) / np.maximum(n_earlier, 1), 0.0)
    dpd_trend = (np.nanmean(recent, axis=1) - earlier_mean) / 30.0

    history_years = np.maximum(
        ((p["age"] - 18) * rng.beta(2.5, 1.8, n)).round(1), np.round(months_on_book / 12, 1)
    )
    log_income_rel = np.clip(np.log(p["income"] / 40_000), -1, 1.5)
    accounts = 1 + rng.poisson(
        np.maximum(0.8 + 0.1 * np.minimum(history_years, 25) + 0.5 * log_income_rel, 0.1)
    )
    delinquencies = episodes + rng.poisson(np.exp(-1.8 + 0.7 * z))
    inquiries = rng.poisson(np.exp(-0.3 + 0.35 * z + 0.5 * drift + 0.25 * (p["age"] < 30)))
    return {
        "utilisation": np.round(utilisation, 3),
        "balance": balance,
        "payment": payment,
        "dpd": dpd,
        "dpd_trend": dpd_trend,
        "recent_dpd_max": np.nanmax(recent, axis=1),
        "history_years": history_years,
        "accounts": accounts.astype(np.int64),
        "delinquencies": delinquencies.astype(np.int64),
        "inquiries": inquiries.astype(np.int64),
    }


def _loans(
    rng: np.random.Generator, p: dict[str, np.ndarray], h: dict[str, np.ndarray], drift: np.ndarray
) -> dict[str, np.ndarray]:
    """Purpose, amount, term, the lender's priced rate and the payment-to-income ratio."""
    n = len(drift)
    names = list(PURPOSES)
    logits = np.tile(np.log([PURPOSES[k][0] for k in names]), (n, 1))
    logits[:, names.index(DRIFT_PURPOSE)] += 0.9 * drift
    purpose = _pick(rng, logits)
    amount_eff = np.array([PURPOSES[k][1] for k in names])[purpose]
    log_amount = 0.85 * np.log(p["income"]) + np.log(1.35) + amount_eff + 0.45 * rng.normal(0, 1, n)
    amount = np.round(np.clip(np.exp(log_amount), 1_000, 75_000) / 250) * 250
    term = TERMS[np.clip(np.round(amount / 9_000 + rng.normal(0, 0.8, n)), 0, 4).astype(int)]
    # The lender prices from what it sees: higher rates for riskier-looking files.
    lender_view = (
        1.1 * h["utilisation"]
        + 0.35 * np.log1p(h["delinquencies"])
        + 0.12 * np.minimum(h["inquiries"], 8)
        - 0.45 * np.log(p["income"] / 45_000)
        + 0.4 * (h["history_years"] < 2)
        + 0.5 * (h["recent_dpd_max"] >= 30)
    )
    rate = np.clip(7.5 + 3.0 * lender_view + 0.03 * term + rng.normal(0, 1.3, n), 3.9, 29.99)
    rate = np.round(rate, 2)
    r = rate / 1200
    installment = amount * r / (1 - (1 + r) ** -term)
    return {
        "purpose": purpose,
        "amount": amount,
        "term": term.astype(np.int64),
        "rate": rate,
        "pti": installment * 12 / p["income"],
    }


# --------------------------------------------------------------------------- graph
def _households(
    rng: np.random.Generator, region: np.ndarray, age: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Co-applicant pairs (same region, similar age) and a household id per person."""
    n = len(region)
    household = np.arange(n)
    in_pair = rng.random(n) < 0.4
    noisy_age = age + rng.normal(0, 4, n)
    pairs = []
    for r in range(len(REGIONS)):
        idx = np.flatnonzero(in_pair & (region == r))
        idx = idx[np.argsort(noisy_age[idx], kind="stable")]
        idx = idx[: len(idx) // 2 * 2].reshape(-1, 2)
        pairs.append(idx)
    pair_arr = np.sort(np.concatenate(pairs), axis=1) if pairs else np.empty((0, 2), int)
    household[pair_arr[:, 1]] = pair_arr[:, 0]
    return pair_arr, household


def _employers(
    rng: np.random.Generator, region: np.ndarray, has_employer: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Employer per employed person (-1 for none; heavy-tailed sizes) and ring edges."""
    n = len(region)
    employer = np.full(n, -1, dtype=np.int64)
    offset = 0
    for r in range(len(REGIONS)):
        idx = np.flatnonzero(has_employer & (region == r))
        if len(idx) == 0:
            continue
        k = max(1, round(len(idx) / 7))
        weight = rng.pareto(2.5, k) + 1.0
        employer[idx] = offset + rng.choice(k, len(idx), p=weight / weight.sum())
        offset += k
    # Colleagues are linked in a ring per employer: 1-2 links each, never a huge clique.
    members = np.flatnonzero(employer >= 0)
    members = members[np.lexsort((members, employer[members]))]
    emp = employer[members]
    same = emp[1:] == emp[:-1]
    edges = [np.column_stack([members[:-1][same], members[1:][same]])]
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], len(members)] - 1
    ring = (ends - starts) >= 2
    edges.append(np.column_stack([members[starts[ring]], members[ends[ring]]]))
    return employer, np.sort(np.concatenate(edges), axis=1)


def _guarantors(rng: np.random.Generator, age: np.ndarray, income: np.ndarray) -> np.ndarray:
    """(borrower, guarantor) pairs: young applicants backed by older, better-off ones."""
    n = len(age)
    candidates = np.flatnonzero((age >= 40) & (income >= np.median(income)))
    borrowers = np.flatnonzero(rng.random(n) < np.where(age < 35, 0.22, 0.04))
    if len(candidates) == 0 or len(borrowers) == 0:
        return np.empty((0, 2), dtype=np.int64)
    guarantor = candidates[rng.integers(0, len(candidates), len(borrowers))]
    keep = guarantor != borrowers
    return np.column_stack([borrowers[keep], guarantor[keep]])


def _adjacency(n: int, edges: np.ndarray) -> sparse.csr_matrix:
    """Undirected 0/1 adjacency (duplicates collapsed)."""
    rows = np.r_[edges[:, 0], edges[:, 1]]
    cols = np.r_[edges[:, 1], edges[:, 0]]
    adj = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    adj.data[:] = 1.0
    return adj


# --------------------------------------------------------------------------- default
def _observable_risk(
    p: dict[str, np.ndarray], h: dict[str, np.ndarray], loan: dict[str, np.ndarray]
) -> np.ndarray:
    """The part of the latent risk that the features show (non-linear, with interactions)."""
    c = RISK
    u = h["utilisation"]
    risk = (
        c.util_sq * u**2
        + c.util_x_dpd_trend * u * np.clip(h["dpd_trend"], 0, 3)
        + c.recent_dpd * np.minimum(h["recent_dpd_max"] / 30, 3)
        + c.delinquencies * np.log1p(h["delinquencies"])
        + c.inquiries * np.minimum(h["inquiries"], 8)
        + c.pti * np.maximum(loan["pti"] - c.pti_knee, 0)
        + c.income_below_20k * (p["income"] < 20_000)
        + c.income_below_32k * (p["income"] < 32_000)
        + c.income_above_110k * (p["income"] > 110_000)
        + c.employment_below_1y * (p["employment_years"] < 1)
        + c.employment_below_3y * (p["employment_years"] < 3)
        + c.history_below_2y * (h["history_years"] < 2)
        + c.age_u * ((p["age"] - 45) / 13) ** 2
        + c.sex * p["female"]
        + np.array([v[2] for v in EDUCATION.values()])[p["education"]]
        + np.array([v[3] for v in REGIONS.values()])[p["region"]]
        + np.array([HOUSING_RISK[k] for k in HOUSING])[p["housing"]]
        + np.array([v[2] for v in PURPOSES.values()])[loan["purpose"]]
    )
    return c.scale * risk


def _defaults(
    rng: np.random.Generator,
    observable: np.ndarray,
    *,
    fragility: np.ndarray,
    shocks: dict[str, np.ndarray],
    adjacency: sparse.csr_matrix,
    k: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw exactly ``k`` defaults from the latent risk, with shocks and one contagion round."""
    n = len(observable)
    c = RISK
    noise = rng.logistic(0, 1, n)
    base = observable + c.fragility * fragility + shocks["household"] + shocks["employer"]
    first = _top_k(base + noise, k)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    linked_share = np.where(degree > 0, adjacency @ first / np.maximum(degree, 1), 0.0)
    latent = base + c.contagion * linked_share
    return _top_k(latent + noise, k), {**shocks, "latent": latent}


def _shocks(
    rng: np.random.Generator, household: np.ndarray, employer: np.ndarray
) -> dict[str, np.ndarray]:
    """Latent shocks shared by a household and by an employer's staff (per person)."""
    n = len(household)
    household_shock = RISK.household_sd * rng.normal(0, 1, n)[household]
    employer_draw = RISK.employer_sd * rng.normal(0, 1, max(int(employer.max()) + 1, 1))
    employer_shock = np.where(employer >= 0, employer_draw[np.maximum(employer, 0)], 0.0)
    return {"household": household_shock, "employer": employer_shock}


# --------------------------------------------------------------------------- PII
def _pii(
    seed: int,
    rng: np.random.Generator,
    *,
    female: np.ndarray,
    region: np.ndarray,
    pairs: np.ndarray,
) -> dict[str, list[str]]:
    """Fake names, emails, phones, SSN-style ids and addresses.

    Faker is slow per call, so it fills small pools once per seed and rows combine pool
    entries by index; co-applicants share an address and, mostly, a family name.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    female_first = np.array([fake.first_name_female() for _ in range(300)], dtype=object)
    male_first = np.array([fake.first_name_male() for _ in range(300)], dtype=object)
    last_names = np.array([fake.last_name() for _ in range(600)], dtype=object)
    streets = np.array([fake.street_name() for _ in range(500)], dtype=object)
    cities = np.array([fake.city() for _ in range(400)], dtype=object)
    domains = np.array(
        [fake.free_email_domain() for _ in range(12)] + [fake.domain_name() for _ in range(12)],
        dtype=object,
    )

    n = len(female)
    first = np.where(
        female,
        female_first[rng.integers(0, len(female_first), n)],
        male_first[rng.integers(0, len(male_first), n)],
    )
    last = last_names[rng.integers(0, len(last_names), n)]
    shares_name = rng.random(len(pairs)) < 0.6
    last[pairs[shares_name, 1]] = last[pairs[shares_name, 0]]

    region_names = list(REGIONS)
    state_pick = rng.random(n)
    states = [
        REGIONS[region_names[r]][0][int(u * len(REGIONS[region_names[r]][0]))]
        for r, u in zip(region, state_pick, strict=True)
    ]
    number = rng.integers(1, 9_999, n)
    street = streets[rng.integers(0, len(streets), n)]
    city = cities[rng.integers(0, len(cities), n)]
    zipcode = rng.integers(1_001, 99_951, n)
    address = [
        f"{num} {st}, {ct}, {s} {zc:05d}"
        for num, st, ct, s, zc in zip(number, street, city, states, zipcode, strict=True)
    ]
    for a, b in pairs:
        address[b] = address[a]

    suffix = rng.integers(1, 999, n)
    style = rng.random(n)
    domain = domains[rng.integers(0, len(domains), n)]
    emails = []
    for f_name, l_name, num, s, d in zip(first, last, suffix, style, domain, strict=True):
        f_clean = "".join(ch for ch in f_name.lower() if ch.isalnum())
        l_clean = "".join(ch for ch in l_name.lower() if ch.isalnum())
        local = f"{f_clean}.{l_clean}{num}" if s < 0.6 else f"{f_clean[0]}{l_clean}{num}"
        emails.append(f"{local}@{d}")

    area = rng.integers(201, 990, n)
    exchange = rng.integers(200, 1_000, n)
    line = rng.integers(0, 10_000, n)
    phones = [f"+1-{a}-{e}-{li:04d}" for a, e, li in zip(area, exchange, line, strict=True)]

    # SSN-style numbers, unique per person: area 001-899 without 666, group 01-99, serial 0001-9999.
    code = rng.choice(898 * 99 * 9_999, n, replace=False)
    ssn_area = 1 + code // (99 * 9_999)
    ssn_area = ssn_area + (ssn_area >= 666)
    ssn_group = 1 + (code // 9_999) % 99
    ssn_serial = 1 + code % 9_999
    national_ids = [
        f"{a:03d}-{g:02d}-{s:04d}" for a, g, s in zip(ssn_area, ssn_group, ssn_serial, strict=True)
    ]
    names = [f"{f_name} {l_name}" for f_name, l_name in zip(first, last, strict=True)]
    return {
        "name": names,
        "email": emails,
        "phone": phones,
        "national_id": national_ids,
        "address": address,
    }


# --------------------------------------------------------------------------- assembly
def _missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """A float copy with ``share`` of entries set to NaN completely at random."""
    out = values.astype(float).copy()
    out[rng.random(len(out)) < share] = np.nan
    return out


def generate(rows: int, *, seed: int = 42, default_rate: float = 0.15) -> SyntheticData:
    """Generate synthetic credit applications, borrower relations and their datasheet.

    Parameters
    ----------
    rows : int
        Number of applicants (at least ``MIN_ROWS``).
    seed : int, default 42
        Seed of every random draw; the same seed gives identical frames.
    default_rate : float, default 0.15
        Share of applicants who default; met exactly (``round(rate * rows)`` defaults).

    Returns
    -------
    SyntheticData
        ``applications`` with the columns of the ``synthetic`` preset, ``relations``
        (``source_id``, ``target_id``, ``relation``) and the Markdown ``datasheet``.

    Raises
    ------
    ConfigError
        If ``rows``, ``seed`` or ``default_rate`` is out of range.

    Examples
    --------
    >>> data = generate(1_000, seed=7)
    >>> data.applications["default"].mean()
    0.15
    """
    _validate(rows, seed, default_rate)
    n = int(rows)
    rng = np.random.default_rng(int(seed))

    dates, month, drift = _dates(rng, n)
    people = _people(rng, n, drift)
    pairs, household = _households(rng, people["region"], people["age"])
    married = rng.random(len(pairs)) < 0.8
    people["marital"][pairs[married].ravel()] = MARITAL.index("married")
    employer, employer_edges = _employers(rng, people["region"], people["has_employer"])
    guarantor_edges = _guarantors(rng, people["age"], people["income"])
    edges = np.concatenate([pairs, employer_edges, guarantor_edges]).astype(np.int64)
    kinds = np.repeat(
        np.arange(len(RELATION_KINDS)), [len(pairs), len(employer_edges), len(guarantor_edges)]
    )
    adjacency = _adjacency(n, edges)
    shocks = _shocks(rng, household, employer)

    hist = _histories(rng, people, drift, shocks["household"] + shocks["employer"])
    loan = _loans(rng, people, hist, drift)
    observable = _observable_risk(people, hist, loan)
    default, parts = _defaults(
        rng,
        observable,
        fragility=people["fragility"],
        shocks=shocks,
        adjacency=adjacency,
        k=int(round(float(default_rate) * n)),
    )
    pii = _pii(int(seed), rng, female=people["female"], region=people["region"], pairs=pairs)

    ids = np.arange(100_001, 100_001 + n, dtype=np.int64)
    region_names = np.array(list(REGIONS), dtype=object)
    employer_ids = np.where(
        employer >= 0,
        np.char.add("E", np.char.zfill(np.maximum(employer, 0).astype(str), 5)).astype(object),
        None,
    )
    frame = {
        "applicant_id": ids,
        "application_date": dates.astype("datetime64[ns]"),
        **pii,
        "age": people["age"],
        "sex": np.where(people["female"], "female", "male").astype(object),
        "marital_status": np.array(MARITAL, dtype=object)[people["marital"]],
        "education": np.array(list(EDUCATION), dtype=object)[people["education"]],
        "region": region_names[people["region"]],
        "income": _missing(rng, people["income"], 0.01),
        "employment_years": _missing(rng, people["employment_years"], 0.02),
        "housing": np.array(HOUSING, dtype=object)[people["housing"]],
        "employer_id": employer_ids,
        "loan_amount": loan["amount"].astype(float),
        "loan_term_months": loan["term"],
        "loan_purpose": np.array(list(PURPOSES), dtype=object)[loan["purpose"]],
        "interest_rate": loan["rate"],
        "num_accounts": hist["accounts"],
        "credit_utilization": hist["utilisation"],
        "num_delinquencies_2y": hist["delinquencies"],
        "num_inquiries_6m": hist["inquiries"],
        "credit_history_years": hist["history_years"],
    }
    for columns, key in (
        (BALANCE_COLUMNS, "balance"),
        (PAYMENT_COLUMNS, "payment"),
        (DPD_COLUMNS, "dpd"),
    ):
        for j, column in enumerate(columns):
            frame[column] = hist[key][:, j]
    frame["default"] = default
    applications = pd.DataFrame(frame)

    order = np.lexsort((edges[:, 1], edges[:, 0]))
    relations = pd.DataFrame(
        {
            "source_id": ids[edges[order, 0]],
            "target_id": ids[edges[order, 1]],
            "relation": np.array(RELATION_KINDS, dtype=object)[kinds[order]],
        }
    )
    datasheet = _datasheet(
        applications,
        relations,
        seed=int(seed),
        default_rate=float(default_rate),
        month=month,
        parts=parts,
    )
    return SyntheticData(applications=applications, relations=relations, datasheet=datasheet)


def write_synthetic(
    out_dir: str | Path, *, rows: int, seed: int = 42, default_rate: float = 0.15
) -> dict[str, Path]:
    """Generate a dataset and write ``applications.parquet``, ``relations.parquet`` and
    ``datasheet.md`` into ``out_dir``.

    Returns
    -------
    dict
        The written paths under the keys ``applications``, ``relations``, ``datasheet``.

    Raises
    ------
    ConfigError
        If an argument is out of range (see :func:`generate`).
    """
    return generate(rows, seed=seed, default_rate=default_rate).write(out_dir)


# --------------------------------------------------------------------------- datasheet
COLUMN_DOCS: dict[str, str] = {
    "applicant_id": "row and person identifier (100001 upwards, in application-date order)",
    "application_date": "date of application, 2023-01-01 to 2024-12-31",
    "name": "fake full name (Faker pools; co-applicants often share the family name)",
    "email": "fake e-mail address built from the name",
    "phone": "fake US-style phone number",
    "national_id": "fake SSN-style number, unique per row",
    "address": "fake street address in a state of the row's region (shared by co-applicants)",
    "age": "age in years at application (protected)",
    "sex": "female / male (protected)",
    "marital_status": "single, married, divorced, widowed (protected)",
    "education": "secondary, vocational, bachelor, master, doctorate",
    "region": "US Census division of residence",
    "income": "annual income; about 1% missing at random",
    "employment_years": "years with the current employer; about 2% missing at random",
    "housing": "own, mortgage, rent, family (living with relatives)",
    "employer_id": "employer code, empty for the self-employed and those between jobs (never a feature)",
    "loan_amount": "amount requested, multiples of 250",
    "loan_term_months": "12, 24, 36, 48 or 60",
    "loan_purpose": ", ".join(PURPOSES),
    "interest_rate": "annual rate in percent, priced by the lender from what it sees",
    "num_accounts": "open credit accounts",
    "credit_utilization": "share of revolving limits in use at application (0-1)",
    "num_delinquencies_2y": "delinquency episodes in the last two years (includes the history's)",
    "num_inquiries_6m": "credit inquiries in the last six months",
    "credit_history_years": "length of credit history in years",
    "balance_mXX": "month-end balance on the lender's revolving account, m01 oldest, m12 latest",
    "payment_mXX": "amount paid in the month",
    "dpd_mXX": "days past due at month end (0, 1-29, 30, 60, 90, 120)",
    "default": "1 if the applicant defaulted within the performance window, else 0 (target)",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _datasheet(
    applications: pd.DataFrame,
    relations: pd.DataFrame,
    *,
    seed: int,
    default_rate: float,
    month: np.ndarray,
    parts: dict[str, np.ndarray],
) -> str:
    """Render the Markdown datasheet (Gebru et al., *Datasheets for Datasets*) from the data."""
    import greenscore

    a = applications
    n = len(a)
    late = month >= MONTHS - DRIFT_MONTHS
    early = ~late
    female = (a["sex"] == "female").to_numpy()
    ids = a["applicant_id"].to_numpy()
    degree = pd.concat([relations["source_id"], relations["target_id"]]).value_counts()
    degree = degree.reindex(ids, fill_value=0).to_numpy()
    kinds = relations["relation"].value_counts()
    dflt = a["default"].to_numpy()

    def rate(mask: np.ndarray) -> str:
        return _pct(dflt[mask].mean()) if mask.any() else "n/a"

    def mean(column: str, mask: np.ndarray) -> float:
        return float(a.loc[mask, column].mean()) if mask.any() else float("nan")

    def share(column: str, value: str, mask: np.ndarray) -> str:
        return _pct((a.loc[mask, column] == value).mean()) if mask.any() else "n/a"

    short_history = a[DPD_COLUMNS[0]].isna().mean()
    latent_sd = float(np.std(parts["latent"]))
    rows_docs = []
    for column in a.columns:
        key = column
        for prefix in ("balance_", "payment_", "dpd_"):
            if column.startswith(prefix):
                key = f"{prefix}mXX"
        if key != column and not column.endswith("m01"):
            continue
        shown = key if key != column else column
        missing = a[
            [c for c in a.columns if c == column or (key != column and c.startswith(key[:-3]))]
        ]
        rows_docs.append(
            f"| `{shown}` | {a[column].dtype} | {_pct(float(missing.isna().mean().mean()))} "
            f"| {COLUMN_DOCS[key]} |"
        )
    c = RISK
    lines = [
        "# Datasheet: GreenScore synthetic credit applications",
        "",
        f"Generated by GreenScore {greenscore.__version__} with `greenscore generate "
        f"--rows {n} --seed {seed} --default-rate {default_rate}`.",
        "Structure follows Gebru et al., *Datasheets for Datasets* (2021).",
        "",
        "## Motivation",
        "",
        "A realistic but entirely artificial retail-credit book for building, testing and "
        "teaching GreenScore's pipeline (validation, features, scorecards, boosting, sequence "
        "and graph models, fairness audits, drift monitoring) without any real person's data. "
        "Its structure is planted on purpose and documented below, so tests can check that "
        "each method finds what is there.",
        "",
        "## Composition",
        "",
        f"- `{APPLICATIONS_FILE}`: {n:,} applications, one per applicant, "
        f"{a.shape[1]} columns; application dates {a['application_date'].min():%Y-%m-%d} "
        f"to {a['application_date'].max():%Y-%m-%d}.",
        f"- `{RELATIONS_FILE}`: {len(relations):,} borrower links "
        + ", ".join(f"{kinds.get(k, 0):,} {k}" for k in RELATION_KINDS)
        + ". Each link is listed once; treat links as undirected. `co_applicant`: the two "
        "apply as one household; `shared_employer`: colleagues (linked in a ring per "
        "employer); `guarantor`: `target_id` guarantees the loan of `source_id`.",
        f"- Links per applicant: {_pct((degree == 0).mean())} none, "
        f"{_pct(((degree >= 1) & (degree <= 4)).mean())} one to four, "
        f"{_pct((degree > 4).mean())} more (mean {degree.mean():.2f}).",
        f"- Default rate: {_pct(dflt.mean())} (asked for {_pct(default_rate)}); "
        f"{rate(early)} in the first {MONTHS - DRIFT_MONTHS} months, {rate(late)} in the "
        f"last {DRIFT_MONTHS}.",
        f"- Histories: {_pct(short_history)} of applicants are newer than twelve months; "
        "their oldest months are empty (leading gaps only, never a hole).",
        "",
        "| column | type | missing | meaning |",
        "| --- | --- | --- | --- |",
        *rows_docs,
        "",
        "## Collection process (how it is made)",
        "",
        "Every value comes from one seeded NumPy generator (Faker, seeded with the same "
        "number, fills small pools of names, streets and cities). In order:",
        "",
        "1. Application dates, uniform over 24 months.",
        "2. Sex; age (right-skewed from 21); education (few postgraduates under 26); region by "
        "population share; whether the person has an employer; years with the employer "
        "(shorter for women: career breaks); income, log-normal around a level set by "
        "education, region, a concave age curve and tenure, "
        f"{PAY_GAP} lower log-income for women (the pay gap); housing and marital status from age and income.",
        "3. A hidden *fragility* per person (partly low income, partly not observable). It "
        "drives credit utilisation, delinquencies, inquiries, whether the person is "
        "*deteriorating* (utilisation rising and missed payments becoming likelier over "
        "the 12 months), and a month-by-month payment process: balance from a "
        "utilisation path times a hidden limit; a missed payment adds 30 days past due, a "
        "payment cures; payments are full for transactors, else a share above the minimum.",
        "4. The loan: purpose, amount (about income^0.85 times a purpose factor), term "
        "(longer for larger amounts) and an interest rate the lender prices from "
        "utilisation, delinquencies, inquiries, income, thin files and recent arrears.",
        "5. The borrower graph: about 40% of applicants are paired as co-applicants (same "
        "region, similar age, shared address, mostly married and often one family name); "
        "employees are grouped into employers of heavy-tailed size per region; about one in "
        "five applicants under 35 has an older, better-off guarantor.",
        "6. Default (below).",
        "",
        "## What is planted",
        "",
        "**Latent risk** (logit units). Observable part: "
        f"{c.util_sq} x utilisation^2 (convex); + {c.util_x_dpd_trend} x utilisation x the "
        "days-past-due trend (mean of the last three months minus the earlier months, in "
        "30-day units, floored at 0): an interaction; "
        f"+ {c.recent_dpd} x the worst recent days past due / 30 (capped at 3); "
        f"+ {c.delinquencies} x log(1 + delinquencies); + {c.inquiries} x inquiries "
        f"(capped at 8); + {c.pti} x the payment-to-income ratio above {c.pti_knee} (a "
        f"hinge); income thresholds: +{c.income_below_20k} below 20,000, "
        f"+{c.income_below_32k} below 32,000, {c.income_above_110k} above 110,000; "
        f"+{c.employment_below_1y} under one year with the employer and "
        f"+{c.employment_below_3y} under three; +{c.history_below_2y} for a credit history "
        f"under two years; a U-shape in age, {c.age_u} x ((age - 45) / 13)^2; and small "
        "effects of education, region, housing and loan purpose. "
        f"Hidden part: {c.fragility} x fragility; a household shock shared by "
        f"co-applicants (sd {c.household_sd}); an employer shock shared by colleagues "
        f"(sd {c.employer_sd}); and contagion, {c.contagion} x the share of a person's linked "
        "borrowers who defaulted in a first draw. Logistic noise is added and the "
        f"{_pct(default_rate)} highest become defaults (latent sd here {latent_sd:.2f}).",
        "",
        "**Graph signal.** The household and employer shocks and the contagion term appear "
        "in no column of the applicant's own row, so a linked-borrower default rate or a "
        "graph model over `relations.parquet` has information that row-wise models lack. "
        f"Default rate of applicants with a defaulted link: "
        f"{_linked_rate(ids, relations, dflt, True)}; with links none of whom defaulted: "
        f"{_linked_rate(ids, relations, dflt, False)}.",
        "",
        f"**Drift.** Over the last {DRIFT_MONTHS} months the population shifts gradually: "
        f"mean age {mean('age', early):.1f} before, {mean('age', late):.1f} in the period; "
        f"mean utilisation {mean('credit_utilization', early):.3f} vs "
        f"{mean('credit_utilization', late):.3f}; mean inquiries "
        f"{mean('num_inquiries_6m', early):.2f} vs {mean('num_inquiries_6m', late):.2f}; "
        f"share of `{DRIFT_PURPOSE}` loans {share('loan_purpose', DRIFT_PURPOSE, early)} vs "
        f"{share('loan_purpose', DRIFT_PURPOSE, late)}. The risk formula does not change "
        "(population shift, not concept drift). Use time-ordered CV to see it.",
        "",
        "**Proxy bias.** Sex has no direct effect on default (coefficient "
        f"{c.sex}), but women have lower incomes (median "
        f"{a.loc[female, 'income'].median():,.0f} vs {a.loc[~female, 'income'].median():,.0f}) "
        "and shorter tenure with their employer (median "
        f"{a.loc[female, 'employment_years'].median():.1f} vs "
        f"{a.loc[~female, 'employment_years'].median():.1f} years), both of which raise risk. "
        f"Default rate: women {rate(female)}, men {rate(~female)}. A model that never sees "
        "`sex` still declines women more often: a planted case for the fairness report. "
        "Age, also protected, has a real U-shaped effect.",
        "",
        "## Preprocessing, cleaning, labelling",
        "",
        "None: this is the raw output. Missing values in `income` and `employment_years` are "
        "completely at random; the true values drove the outcome. `employer_id` and the PII "
        "columns must never be features (the `synthetic` preset drops them).",
        "",
        "## Uses",
        "",
        "For tests, benchmarks, demonstrations and teaching of credit-risk methods. Not for "
        "any decision about a real person, nor as evidence about real populations: "
        "the effect sizes are chosen, not estimated.",
        "",
        "## Distribution and licence",
        "",
        "Apache-2.0, like GreenScore's code. It contains no personal data: names, e-mails, "
        "phones, national ids and addresses are fake (Faker) and any resemblance to a real "
        "person is chance.",
        "",
        "## Maintenance",
        "",
        "Regenerate with the same version and seed to get byte-identical files. Changes to "
        "the generator that alter its output are noted in GreenScore's changelog.",
        "",
    ]
    return "\n".join(lines)


def _linked_rate(
    ids: np.ndarray, relations: pd.DataFrame, default: np.ndarray, any_defaulted: bool
) -> str:
    """Default rate of applicants with (or with only non-defaulted) linked borrowers."""
    position = pd.Series(np.arange(len(ids)), index=ids)
    src = position[relations["source_id"].to_numpy()].to_numpy()
    dst = position[relations["target_id"].to_numpy()].to_numpy()
    adj = _adjacency(len(ids), np.column_stack([src, dst]))
    linked_defaults = adj @ default
    has_link = np.asarray(adj.sum(axis=1)).ravel() > 0
    mask = has_link & ((linked_defaults > 0) if any_defaulted else (linked_defaults == 0))
    return _pct(default[mask].mean()) if mask.any() else "n/a"
