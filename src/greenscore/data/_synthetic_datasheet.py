"""The datasheet of a generated dataset (Gebru et al., *Datasheets for Datasets*).

Every figure in it is computed from the generated frames, and every planted effect is
quoted from the generator's own constants, so the text cannot drift from the data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from greenscore.data._synthetic_params import (
    APPLICATIONS_FILE,
    DPD_COLUMNS,
    DRIFT_MONTHS,
    DRIFT_PURPOSE,
    FEMALE_TENURE_FACTOR,
    MONTHS,
    PAY_GAP,
    PURPOSES,
    RELATION_KINDS,
    RELATIONS_FILE,
    RISK,
    START_DATE,
    adjacency_matrix,
)
from greenscore.version import __version__

COLUMN_DOCS: dict[str, str] = {
    "applicant_id": "row and person identifier (100001 upwards, in application-date order)",
    "application_date": "date of application, over 24 months",
    "name": "fake full name (co-applicants often share the family name)",
    "email": "fake e-mail address built from the name",
    "phone": "fake US-style phone number",
    "national_id": "fake SSN-style number, unique per row",
    "address": "fake street address in a state of the row's region (shared by co-applicants)",
    "age": "age in years at application (protected)",
    "sex": "female / male (protected)",
    "marital_status": "single, married, divorced, widowed (protected)",
    "education": "secondary, vocational, bachelor, master, doctorate",
    "region": "US Census division of residence",
    "income": "annual income; missing completely at random for about 1%",
    "employment_years": "years with the current employer; missing at random for about 2%",
    "housing": "own, mortgage, rent, family (living with relatives)",
    "employer_id": "employer code; empty for the self-employed and those between jobs; "
    "never a feature",
    "loan_amount": "amount requested, multiples of 250",
    "loan_term_months": "12, 24, 36, 48 or 60",
    "loan_purpose": ", ".join(PURPOSES),
    "interest_rate": "annual rate in percent, priced by the lender from what it sees",
    "num_accounts": "open credit accounts",
    "credit_utilization": "share of revolving limits in use at application (0-1)",
    "num_delinquencies_2y": "delinquency episodes in the last two years (includes the history's)",
    "num_inquiries_6m": "credit inquiries in the last six months",
    "credit_history_years": "length of credit history in years",
    "balance_m01..m12": "month-end balance on the lender's revolving account, m01 oldest",
    "payment_m01..m12": "amount paid in the month",
    "dpd_m01..m12": "days past due at month end (0, 1-29, 30, 60, 90 or 120)",
    "default": "1 if the applicant defaulted in the performance window, else 0 (the target)",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%" if np.isfinite(x) else "n/a"


def _share(flags: np.ndarray, mask: np.ndarray) -> str:
    """Mean of 0/1 ``flags`` over the rows in ``mask``, as a percentage."""
    return _pct(float(flags[mask].mean())) if mask.any() else "n/a"


def _columns_table(a: pd.DataFrame) -> list[str]:
    lines = ["| column | type | missing | meaning |", "| --- | --- | --- | --- |"]
    for key, meaning in COLUMN_DOCS.items():
        prefix = key.split("_m01")[0] + "_m" if "_m01.." in key else None
        columns = [c for c in a.columns if c.startswith(prefix)] if prefix else [key]
        missing = float(a[columns].isna().to_numpy().mean())
        lines.append(f"| `{key}` | {a[columns[0]].dtype} | {_pct(missing)} | {meaning} |")
    return lines


def _link_rates(a: pd.DataFrame, relations: pd.DataFrame) -> tuple[np.ndarray, str, str]:
    """Links per applicant; default rate with a defaulted link, and with links none defaulted."""
    ids = a["applicant_id"].to_numpy()
    position = pd.Series(np.arange(len(ids)), index=ids)
    edges = np.column_stack(
        [
            position[relations["source_id"].to_numpy()].to_numpy(),
            position[relations["target_id"].to_numpy()].to_numpy(),
        ]
    )
    adjacency = adjacency_matrix(len(ids), edges.reshape(-1, 2))
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    default = a["default"].to_numpy()
    linked_defaults = adjacency @ default
    with_default = (degree > 0) & (linked_defaults > 0)
    without = (degree > 0) & (linked_defaults == 0)
    return degree, _share(default, with_default), _share(default, without)


def render_datasheet(
    applications: pd.DataFrame,
    relations: pd.DataFrame,
    *,
    seed: int,
    default_rate: float,
    latent: np.ndarray,
) -> str:
    """Render the Markdown datasheet of one generated dataset.

    Parameters
    ----------
    applications, relations : the generated frames.
    seed, default_rate : the arguments they were generated with.
    latent : the latent default risk per row (its spread is reported).

    Returns
    -------
    str
        The datasheet as Markdown.
    """
    a, c = applications, RISK
    n = len(a)
    month_index = a["application_date"].to_numpy().astype("datetime64[M]").astype(
        int
    ) - START_DATE.astype("datetime64[M]").astype(int)
    late = month_index >= MONTHS - DRIFT_MONTHS
    early = ~late
    female = (a["sex"] == "female").to_numpy()
    default = a["default"].to_numpy()
    kinds = relations["relation"].value_counts()
    degree, rate_linked, rate_clean = _link_rates(a, relations)

    def rate(mask: np.ndarray) -> str:
        return _share(default, mask)

    def mean(column: str, mask: np.ndarray, digits: int) -> str:
        return f"{a.loc[mask, column].mean():.{digits}f}" if mask.any() else "n/a"

    def median(column: str, mask: np.ndarray, fmt: str) -> str:
        return format(a.loc[mask, column].median(), fmt) if mask.any() else "n/a"

    drift_share = (a["loan_purpose"] == DRIFT_PURPOSE).to_numpy()
    lines = [
        "# Datasheet: GreenScore synthetic credit applications",
        "",
        f"Generated by GreenScore {__version__}: `greenscore generate --rows {n} "
        f"--seed {seed} --default-rate {default_rate}`. Sections follow Gebru et al., "
        "*Datasheets for Datasets* (2021).",
        "",
        "## Motivation",
        "",
        "A realistic but entirely artificial retail-credit book for building, testing and "
        "teaching GreenScore's pipeline (validation, features, scorecards, boosting, sequence "
        "and graph models, fairness audits, drift monitoring) without any real person's data. "
        "Its structure is planted on purpose and documented below, so that tests can check "
        "that each method finds what is there.",
        "",
        "## Composition",
        "",
        f"- `{APPLICATIONS_FILE}`: {n:,} applications, one per applicant, {a.shape[1]} "
        f"columns, dated {a['application_date'].min():%Y-%m-%d} to "
        f"{a['application_date'].max():%Y-%m-%d}.",
        f"- `{RELATIONS_FILE}`: {len(relations):,} borrower links ("
        + ", ".join(f"{kinds.get(k, 0):,} {k}" for k in RELATION_KINDS)
        + "), each listed once: treat them as undirected. `co_applicant`: the two apply as "
        "one household; `shared_employer`: colleagues, linked in a ring per employer; "
        "`guarantor`: `target_id` guarantees the loan of `source_id`.",
        f"- Links per applicant: {_pct(float((degree == 0).mean()))} none, "
        f"{_pct(float(((degree >= 1) & (degree <= 4)).mean()))} one to four, "
        f"{_pct(float((degree > 4).mean()))} more; mean {degree.mean():.2f}.",
        f"- Default rate {rate(np.ones(n, bool))} (asked for {_pct(default_rate)}): "
        f"{rate(early)} in the first {MONTHS - DRIFT_MONTHS} months, {rate(late)} in the "
        f"last {DRIFT_MONTHS}.",
        f"- Histories: {_pct(float(a[DPD_COLUMNS[0]].isna().mean()))} of applicants have "
        "been customers for less than twelve months; their oldest months are empty (leading "
        "gaps only, never a hole inside a history).",
        "",
        *_columns_table(a),
        "",
        "## Collection process: how it is made",
        "",
        "No data was collected. Every value comes from one seeded NumPy generator; Faker, "
        "seeded with the same number, fills small pools of names, streets and cities. In order:",
        "",
        "1. Application dates, uniform over 24 months.",
        "2. Sex; age (right-skewed from 21); education (few postgraduates under 26); region by "
        "population share; whether the person has an employer; years with that employer "
        f"(for women times {FEMALE_TENURE_FACTOR}: career breaks); income, log-normal around "
        "a level set by education, region, a concave age curve and tenure, with a log-income "
        f"{PAY_GAP} lower for women (the pay gap); housing and marital status from age and "
        "income.",
        "3. The borrower graph: about 40% of applicants are paired as co-applicants (same "
        "region, similar age, shared address, mostly married, often one family name); "
        "employees belong to employers of heavy-tailed size within their region; about one "
        "in five applicants under 35 has an older, better-off guarantor. Each household and "
        "each employer draws a hidden shock (a single applicant's household shock is their own).",
        "4. A hidden *fragility* per person (partly low income, partly unobservable) drives "
        "credit utilisation, delinquencies, inquiries, whether the person is *deteriorating* "
        "(utilisation rising and missed payments likelier over the 12 months) and a monthly "
        "payment process: balance is a utilisation path times a hidden limit; a missed "
        "payment adds 30 days past due and a payment cures; transactors pay in full, others "
        "a share above the minimum. For a random "
        f"{_pct(c.early_share)} of applicants the shared shocks have already begun to bite: "
        "their utilisation and missed payments rise over the last four months in "
        "proportion to their household and employer shocks.",
        "5. The loan: purpose, amount (about income^0.85 times a purpose factor), term "
        "(longer for larger amounts) and an interest rate the lender prices from "
        "utilisation, delinquencies, inquiries, income, thin files and recent arrears.",
        "6. Default, from the latent risk below.",
        "",
        "## What is planted",
        "",
        f"**Latent risk** (logit units). The observable part, weighted by "
        f"{c.observable_weight}: {c.util_sq} x utilisation^2 (convex); "
        f"+ {c.util_x_dpd_trend} x utilisation x the days-past-due trend (the last three "
        "months' mean minus the earlier months', in 30-day units, floored at 0), an "
        f"interaction; + {c.recent_dpd} x the worst recent days past due / 30 (capped at 3); "
        f"+ {c.delinquencies} x log(1 + delinquencies); + {c.inquiries} x inquiries (capped "
        f"at 8); + {c.pti} x the payment-to-income ratio above {c.pti_knee} (a hinge); "
        f"{c.log_income} x log(income / 45,000) plus income thresholds: "
        f"+{c.income_below_20k} below 20,000, +{c.income_below_32k} below 32,000, "
        f"{c.income_above_110k} above 110,000; +{c.employment_below_1y} under one year with "
        f"the employer and +{c.employment_below_3y} under three; +{c.history_below_2y} for a "
        f"credit history under two years; a U-shape in age, {c.age_u} x ((age - 45) / 13)^2; "
        "small effects of education, region, housing and loan purpose. The hidden part: "
        f"{c.fragility} x fragility; the household shock (sd {c.household_sd}); the "
        f"employer shock (sd {c.employer_sd}); and contagion, {c.contagion} x the share of "
        "the applicant's linked borrowers who default in a first draw. Logistic noise is "
        f"added and the top {_pct(default_rate)} default (sd of the latent risk here "
        f"{float(np.std(latent)):.2f}).",
        "",
        "**Graph signal.** For most applicants the shocks and the contagion term show in no "
        "column of their own row; they show in linked borrowers' outcomes and in the recent "
        "histories of linked borrowers the shocks reached early. So a linked-borrower default "
        "rate, or a graph model over the relations, knows what a row-wise model cannot. "
        f"Default rate with at least one defaulted link: {rate_linked}; with links, "
        f"none defaulted: {rate_clean}.",
        "",
        f"**Drift.** Over the last {DRIFT_MONTHS} months the population shifts gradually: "
        f"mean age {mean('age', early, 1)} before, {mean('age', late, 1)} during; mean "
        f"utilisation {mean('credit_utilization', early, 3)} vs "
        f"{mean('credit_utilization', late, 3)}; mean inquiries "
        f"{mean('num_inquiries_6m', early, 2)} vs {mean('num_inquiries_6m', late, 2)}; "
        f"`{DRIFT_PURPOSE}` loans {_share(drift_share, early)} vs "
        f"{_share(drift_share, late)}. The risk formula does not change (population shift, "
        "not concept drift); time-ordered validation shows it.",
        "",
        f"**Proxy bias.** Sex has no direct effect on default (coefficient {c.sex}), but "
        f"women earn less (median income {median('income', female, ',.0f')} vs "
        f"{median('income', ~female, ',.0f')}) and have shorter tenure (median "
        f"{median('employment_years', female, '.1f')} vs "
        f"{median('employment_years', ~female, '.1f')} years), both of which raise risk. "
        f"Default rate: women {rate(female)}, men {rate(~female)}. A model that never sees "
        "`sex` still declines women more often: a planted case for the fairness report. "
        "Age, also protected, has a real U-shaped effect.",
        "",
        "## Preprocessing, cleaning, labelling",
        "",
        "None: this is the raw output. Missing values in `income` and `employment_years` "
        "are missing completely at random; the true values drove the outcome. `employer_id` "
        "and the PII columns must never be features (the `synthetic` preset excludes them).",
        "",
        "## Uses",
        "",
        "Tests, benchmarks, demonstrations and teaching of credit-risk methods. Not for any "
        "decision about a real person, nor as evidence about real populations: the effect "
        "sizes are chosen, not estimated.",
        "",
        "## Distribution and licence",
        "",
        "Apache-2.0, like GreenScore's code. It holds no personal data: names, e-mails, "
        "phones, national ids and addresses are fake (Faker) and any resemblance to a real "
        "person is chance.",
        "",
        "## Maintenance",
        "",
        "The same GreenScore version and seed give byte-identical files. A change to the "
        "generator that alters its output is a change of version.",
        "",
    ]
    return "\n".join(lines)
