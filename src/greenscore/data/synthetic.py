"""The built-in synthetic credit data generator (``greenscore generate``).

It writes loan applications that look and behave like a retail lender's book, with the
structure the rest of GreenScore is tested against planted on purpose and documented in a
datasheet: non-linear risk with interactions, variable-length monthly histories, a borrower
graph that carries signal the row's own features do not, a population shift in the last six
months, and a proxy bias through which sex reaches decisions without being a feature.

The generative story, in order: application dates; demographics (sex, age, education,
region, employment, income, housing); the borrower graph (households, employers, guarantors)
with a hidden shock per household and per employer; a hidden financial *fragility* per
person, from which bureau attributes and twelve months of balance, payment and days past due
are drawn; the loan (purpose, amount, term, and a rate priced from the lender's view of risk);
and finally default, drawn from a latent risk that mixes what the features show, what they
do not (the shared shocks) and contagion from linked borrowers. The ``_synthetic_datasheet``
module writes the datasheet. Every draw comes from one seeded NumPy generator (and a Faker
instance seeded with the same number), so a seed gives identical frames and byte-identical
files. Everything is vectorised: 20,000 rows take about a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from greenscore.data._synthetic_params import (
    APPLICATIONS_FILE,
    BALANCE_COLUMNS,
    DATASHEET_FILE,
    DPD_COLUMNS,
    DRIFT_MONTHS,
    DRIFT_PURPOSE,
    EDUCATION,
    END_DATE,
    FEMALE_TENURE_FACTOR,
    HISTORY,
    HOUSING,
    HOUSING_RISK,
    MARITAL,
    MONTHS,
    PAY_GAP,
    PAYMENT_COLUMNS,
    PURPOSES,
    REGIONS,
    RELATION_KINDS,
    RELATIONS_FILE,
    RISK,
    START_DATE,
    TERMS,
    adjacency_matrix,
)
from greenscore.errors import ConfigError

MIN_ROWS = 20
MIN_DEFAULT_RATE, MAX_DEFAULT_RATE = 0.01, 0.5
ERR_ROWS = "rows must be an integer of at least {minimum}, got {value!r}"
ERR_SEED = "seed must be a non-negative integer, got {value!r}"
ERR_FIRST_ID = "first_id must be a positive integer, got {value!r}"
#: The first applicant id of a generated file, unless told otherwise.
FIRST_ID = 100_001
ERR_RATE = "default_rate must be between {low} and {high}, got {value!r}"


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


def _validate(rows: int, seed: int, default_rate: float, first_id: int = FIRST_ID) -> None:
    if isinstance(rows, bool) or not isinstance(rows, int | np.integer) or rows < MIN_ROWS:
        raise ConfigError(ERR_ROWS.format(minimum=MIN_ROWS, value=rows))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(ERR_SEED.format(value=seed))
    if not MIN_DEFAULT_RATE <= float(default_rate) <= MAX_DEFAULT_RATE:
        raise ConfigError(
            ERR_RATE.format(low=MIN_DEFAULT_RATE, high=MAX_DEFAULT_RATE, value=default_rate)
        )
    if isinstance(first_id, bool) or not isinstance(first_id, int | np.integer) or first_id < 1:
        raise ConfigError(ERR_FIRST_ID.format(value=first_id))


# --------------------------------------------------------------------------- people
def _dates(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted application dates and their drift weight (0 before the last months, up to 1)."""
    span = int((END_DATE - START_DATE).astype(int))
    dates = np.sort(START_DATE + rng.integers(0, span, n).astype("timedelta64[D]"))
    month = dates.astype("datetime64[M]").astype(int) - START_DATE.astype("datetime64[M]").astype(
        int
    )
    # Ramps from 0 before the last six months to 1 in the final month: a gradual shift.
    drift = np.clip((month - (MONTHS - DRIFT_MONTHS - 1)) / DRIFT_MONTHS, 0.0, 1.0)
    return dates, drift


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
            -2.4 + 0.07 * a + 0.3 * li,
            -0.5 + 0.09 * a - 0.0018 * a**2 + 0.8 * li,
            np.full(n, 0.2),
            1.5 - 0.3 * a,
        ]
    )
    housing = _pick(rng, housing_logits)

    marital_logits = np.column_stack(
        [
            1.0 - 0.07 * a,
            -1.0 + 0.05 * a - 0.0006 * a**2,
            -2.2 + 0.05 * a,
            -5.5 + 0.09 * a,
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
    pairs = [np.empty((0, 2), dtype=np.int64)]
    for r in range(len(REGIONS)):
        idx = np.flatnonzero(in_pair & (region == r))
        idx = idx[np.argsort(noisy_age[idx], kind="stable")]
        pairs.append(idx[: len(idx) // 2 * 2].reshape(-1, 2))
    pair_arr = np.sort(np.concatenate(pairs), axis=1)
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
        + c.log_income * np.log(p["income"] / 45_000)
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
    return c.observable_weight * risk


def _defaults(
    rng: np.random.Generator,
    observable: np.ndarray,
    *,
    fragility: np.ndarray,
    shocks: dict[str, np.ndarray],
    adjacency: sparse.csr_matrix,
    k: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw exactly ``k`` defaults from the latent risk, with shocks and one contagion round."""
    n = len(observable)
    c = RISK
    noise = rng.logistic(0, 1, n)
    base = observable + c.fragility * fragility + shocks["household"] + shocks["employer"]
    first = _top_k(base + noise, k)
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    linked_share = np.where(degree > 0, adjacency @ first / np.maximum(degree, 1), 0.0)
    latent = base + c.contagion * linked_share
    return _top_k(latent + noise, k), latent


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
    """Fake names, e-mails, phones, SSN-style ids and addresses.

    Faker is slow per call, so it fills small pools once per seed and rows combine pool
    entries by index; co-applicants share an address and, mostly, a family name.
    """
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    firsts = [fake.first_name_female() for _ in range(300)]
    firsts += [fake.first_name_male() for _ in range(300)]
    lasts = [fake.last_name() for _ in range(600)]
    streets = np.array([fake.street_name() for _ in range(500)], dtype=object)
    cities = np.array([fake.city() for _ in range(400)], dtype=object)
    domains = [fake.free_email_domain() for _ in range(12)] + [
        fake.domain_name() for _ in range(12)
    ]

    def clean(names: list[str]) -> np.ndarray:
        return np.array(["".join(ch for ch in x.lower() if ch.isalnum()) for x in names], object)

    n = len(female)
    first = rng.integers(0, 300, n) + np.where(female, 0, 300)
    last = rng.integers(0, len(lasts), n)
    shares_name = rng.random(len(pairs)) < 0.6
    last[pairs[shares_name, 1]] = last[pairs[shares_name, 0]]
    first_name, last_name = np.array(firsts, object)[first], np.array(lasts, object)[last]
    first_clean, last_clean = clean(firsts)[first], clean(lasts)[last]
    number = rng.integers(1, 999, n).astype(str).astype(object)
    dotted = rng.random(n) < 0.6
    initial = np.array([x[:1] for x in first_clean], dtype=object)
    local = np.where(dotted, first_clean + "." + last_clean, initial + last_clean) + number
    email = local + "@" + np.array(domains, dtype=object)[rng.integers(0, len(domains), n)]

    # Addresses: a state of the row's region, a pooled street and city, a random ZIP code.
    region_states = list(REGIONS.values())
    state_of = np.array(
        [
            region_states[r][0][int(u * len(region_states[r][0]))]
            for r, u in zip(region, rng.random(n), strict=True)
        ],
        dtype=object,
    )
    house = rng.integers(1, 9_999, n).astype(str).astype(object)
    zipcode = np.char.zfill(rng.integers(1_001, 99_951, n).astype(str), 5).astype(object)
    street = streets[rng.integers(0, len(streets), n)]
    city = cities[rng.integers(0, len(cities), n)]
    address = house + " " + street + ", " + city + ", " + state_of + " " + zipcode
    address[pairs[:, 1]] = address[pairs[:, 0]]

    phone = [
        f"+1-{a}-{e}-{li:04d}"
        for a, e, li in zip(
            rng.integers(201, 990, n),
            rng.integers(200, 1_000, n),
            rng.integers(0, 10_000, n),
            strict=True,
        )
    ]
    # SSN-style, unique per person: area 001-899 without 666, group 01-99, serial 0001-9999.
    code = rng.choice(898 * 99 * 9_999, n, replace=False)
    area = 1 + code // (99 * 9_999)
    area = area + (area >= 666)
    national_id = [
        f"{a:03d}-{g:02d}-{s:04d}"
        for a, g, s in zip(area, 1 + (code // 9_999) % 99, 1 + code % 9_999, strict=True)
    ]
    return {
        "name": list(first_name + " " + last_name),
        "email": list(email),
        "phone": phone,
        "national_id": national_id,
        "address": list(address),
    }


# --------------------------------------------------------------------------- assembly
def _missing(rng: np.random.Generator, values: np.ndarray, share: float) -> np.ndarray:
    """A float copy with ``share`` of entries set to NaN completely at random."""
    out = values.astype(float).copy()
    out[rng.random(len(out)) < share] = np.nan
    return out


def generate(
    rows: int, *, seed: int = 42, default_rate: float = 0.15, first_id: int = FIRST_ID
) -> SyntheticData:
    """Generate synthetic credit applications, borrower relations and their datasheet.

    Parameters
    ----------
    rows : int
        Number of applicants (at least ``MIN_ROWS``).
    seed : int, default 42
        Seed of every random draw; the same seed gives identical frames.
    default_rate : float, default 0.15
        Share of applicants who default; met exactly: ``round(rate * rows)`` defaults
        (at least one).
    first_id : int, default 100001
        The first applicant id; the others follow it. Applicants generated to be scored
        by a model trained on another generated file need ids of their own: an id the
        model's borrower graph knows would be scored with that training borrower's links.

    Returns
    -------
    SyntheticData
        ``applications`` with the columns of the ``synthetic`` preset, ``relations``
        (``source_id``, ``target_id``, ``relation``) and the Markdown ``datasheet``.

    Raises
    ------
    ConfigError
        If ``rows``, ``seed``, ``default_rate`` or ``first_id`` is out of range.

    Examples
    --------
    >>> data = generate(1_000, seed=7)
    >>> float(data.applications["default"].mean())
    0.15
    """
    _validate(rows, seed, default_rate, first_id)
    n = int(rows)
    rng = np.random.default_rng(int(seed))

    dates, drift = _dates(rng, n)
    people = _people(rng, n, drift)
    pairs, household = _households(rng, people["region"], people["age"])
    # Co-applicants are mostly spouses, less often so when young (partners, siblings).
    pair_age = people["age"][pairs].mean(axis=1) if len(pairs) else np.empty(0)
    married = rng.random(len(pairs)) < 0.9 * _sigmoid((pair_age - 27) / 4)
    people["marital"][pairs[married].ravel()] = MARITAL.index("married")
    employer, employer_edges = _employers(rng, people["region"], people["has_employer"])
    guarantor_edges = _guarantors(rng, people["age"], people["income"])
    edges = np.concatenate([pairs, employer_edges, guarantor_edges]).astype(np.int64)
    kinds = np.repeat(
        np.arange(len(RELATION_KINDS)), [len(pairs), len(employer_edges), len(guarantor_edges)]
    )
    adjacency = adjacency_matrix(n, edges)
    shocks = _shocks(rng, household, employer)

    hist = _histories(rng, people, drift, shocks["household"] + shocks["employer"])
    loan = _loans(rng, people, hist, drift)
    observable = _observable_risk(people, hist, loan)
    default, latent = _defaults(
        rng,
        observable,
        fragility=people["fragility"],
        shocks=shocks,
        adjacency=adjacency,
        k=max(1, int(round(float(default_rate) * n))),
    )
    pii = _pii(int(seed), rng, female=people["female"], region=people["region"], pairs=pairs)

    ids = np.arange(int(first_id), int(first_id) + n, dtype=np.int64)
    region_names = np.array(list(REGIONS), dtype=object)
    employer_ids = np.where(
        employer >= 0,
        np.char.add("E", np.char.zfill(np.maximum(employer, 0).astype(str), 5)).astype(object),
        # numpy's stubs take no None here; it fills the object array with missing values.
        None,  # type: ignore[call-overload]
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
    # Imported here because the datasheet module reads this module's constants.
    from greenscore.data._synthetic_datasheet import render_datasheet

    datasheet = render_datasheet(
        applications, relations, seed=int(seed), default_rate=float(default_rate), latent=latent
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
