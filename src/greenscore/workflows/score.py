"""Score a file with a bundle: read it, score every row it can, write predictions and rejects.

What ``greenscore score`` runs. The bundle's scoring runtime cleans and checks the rows
(:meth:`~greenscore.models.runtime.ScoringRuntime.score_frame`) and scores them with the
compiled model the API uses, so a file scores exactly as the API scores the same rows,
with the API's flags. Each scored subject's ``scored`` lineage is recorded, and when
``privacy.require_consent`` is set a file with a subject who has not consented is refused.
The output, when it names its subjects (the spec's id column), is registered with the
privacy registry so that erasure reaches it. This module adds what only a file has: a row that cannot be
scored (a number that is not one, an implausible value) either stops the run with an
error naming its row and column, or, with ``on_error="skip"``, is left out, counted and
written to a rejects file beside the output. Nothing is dropped silently.

Outputs by suffix: ``.csv``, ``.parquet``, ``.json`` (one JSON array of row objects) and
``.jsonl`` (one JSON object per line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from greenscore.config import Settings, get_settings
from greenscore.data.cleaning import RowProblem, rows_without
from greenscore.data.io import local_path, read_table
from greenscore.data.loading import load_relations
from greenscore.errors import ConfigError, DataError
from greenscore.explain.reason_codes import ReasonCoder, ReasonRows, scored_with_reasons
from greenscore.models.bundle import ScoringBundle
from greenscore.models.runtime import ScoringRuntime
from greenscore.privacy.at_rest import install_dataset_reader
from greenscore.privacy.consent import (
    CONSENT_MISSING,
    NO_SUBJECT_ID,
    ConsentMissingError,
    without_consent,
)
from greenscore.privacy.registry import register_dataset
from greenscore.scale.batch import ROW_COLUMN
from greenscore.security.pseudonym import subject_hashes
from greenscore.store import database
from greenscore.sustainability.energy import measure_energy
from greenscore.workflows.subject_lineage import record_scoring, subject_ids

OUT_SUFFIXES = (".csv", ".parquet", ".json", ".jsonl")
ON_ERROR = ("raise", "skip")
BAD_SUFFIX = "--out must end in .csv, .parquet, .json or .jsonl, not '{suffix}'"
BAD_ON_ERROR = "--on-error must be raise or skip, not '{value}'"
CANNOT_SCORE = "{first} ({count} row{s} cannot be scored; --on-error skip scores the others)"
#: Suffix of the rejects file written beside the output.
REJECTS_SUFFIX = ".rejects.csv"


@dataclass
class ScoreSummary:
    """What one scoring run did.

    Attributes
    ----------
    rows : rows in the input.
    scored : the predictions, one row per scored input row.
    skipped : rows left out (``on_error="skip"``).
    flagged : scored rows with at least one flag.
    rejects : where the skipped rows were written, or None.
    kwh, method : energy of the scoring and how it was measured.
    links : borrower links read with the applications (their relations file) and added
        to the model's graph; 0 when none were.
    warning : :func:`unlinked_warning`'s, when the model reads links and none came.
    """

    rows: int
    scored: pd.DataFrame
    skipped: int
    flagged: int
    rejects: Path | None
    kwh: float
    method: str
    links: int = 0
    warning: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Decisions by band."""
        counts = self.scored["decision"].value_counts().to_dict()
        return {band: int(counts.get(band, 0)) for band in ("approve", "review", "decline")}


def check_options(out: Path, on_error: str) -> None:
    """Refuse an output suffix or ``--on-error`` value before anything is read.

    Raises
    ------
    ConfigError
        Naming the option and what it accepts.
    """
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise ConfigError(BAD_SUFFIX.format(suffix=out.suffix or out.name))
    if on_error not in ON_ERROR:
        raise ConfigError(BAD_ON_ERROR.format(value=on_error))


def rejects_path(out: Path) -> Path:
    """The rejects file beside an output: ``preds.csv`` -> ``preds.rejects.csv``."""
    return out.with_name(out.stem + REJECTS_SUFFIX)


def write_table(frame: pd.DataFrame, out: Path) -> None:
    """Write predictions in the format the suffix names (see the module docstring)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    suffix = out.suffix.lower()
    if suffix == ".csv":
        frame.to_csv(out, index=False)
    elif suffix == ".parquet":
        frame.to_parquet(out, index=False)
    elif suffix == ".jsonl":
        frame.to_json(out, orient="records", lines=True, force_ascii=False)
    else:
        records = json.loads(frame.to_json(orient="records", force_ascii=False))
        out.write_text(json.dumps(records, indent=1, ensure_ascii=False) + "\n", "utf-8")


def _rejects(frame: pd.DataFrame, problems: list[RowProblem]) -> pd.DataFrame:
    why: dict[int, list[str]] = {}
    for problem in problems:
        why.setdefault(problem.position, []).append(problem.message)
    positions = sorted(why)
    rows = frame.iloc[positions].reset_index(drop=True)
    labels: list[Any] = [frame.index[p] for p in positions]
    rows.insert(0, "error", ["; ".join(why[p]) for p in positions])
    rows.insert(0, ROW_COLUMN, labels)
    return rows


def consent_column(bundle: ScoringBundle, columns: Any, purpose: str) -> str:
    """The id column consent is checked by, refusing input that lacks it (exit 2).

    Raises
    ------
    ConsentMissingError
        If the spec has no id column or ``columns`` lacks it.
    """
    column = bundle.spec.id_column
    if not column or column not in columns:
        raise ConsentMissingError(
            NO_SUBJECT_ID.format(purpose=purpose, id_name=column or "an id column"),
            purpose=purpose,
        )
    return column


def lacking_consent(ids: pd.Series, purpose: str, *, settings: Settings) -> pd.Index:
    """The row labels of ``ids`` whose subject has not consented to ``purpose`` (or has no
    id): the verdict of one slice of an id column, so a large input is checked in slices."""
    hashes = subject_hashes(subject_ids(ids), settings=settings)
    missing = without_consent({h for h in hashes if h}, purpose, db=database(settings))
    return ids.index[[k for k, h in enumerate(hashes) if h is None or h in missing]]


def refuse_without_consent(first: Any, count: int, purpose: str) -> None:
    """Refuse the input when ``count`` rows lack consent, naming the first (row ``first``).

    Raises
    ------
    ConsentMissingError
        When ``count`` is not 0 (exit 2).
    """
    if count:
        who = f"the subject of row {first}" + (f" (and {count - 1} more rows)" if count > 1 else "")
        raise ConsentMissingError(CONSENT_MISSING.format(who=who, purpose=purpose), purpose=purpose)


def _require_consent(
    frame: pd.DataFrame, bundle: ScoringBundle, purpose: str, *, settings: Settings
) -> None:
    """Refuse the file when a subject in it has not consented to ``purpose`` (exit 2)."""
    column = consent_column(bundle, frame.columns, purpose)
    lacking = lacking_consent(frame[column], purpose, settings=settings)
    refuse_without_consent(lacking[0] if len(lacking) else None, len(lacking), purpose)


def register_output(out: Path, id_column: str | None, columns: Any, *, settings: Settings) -> None:
    """Register scores written to ``out`` (a file, or a folder of Parquet parts) when they
    name their subjects (``id_column`` is among ``columns``), so erasure and retention
    reach them."""
    if id_column and id_column in columns:
        register_dataset(
            out, id_column=id_column, name=f"scored:{out.resolve()}", db=database(settings)
        )


NO_LINKS_READ = (
    "the model reads borrower links and none came with these applicants (no '{file}' "
    "beside them): each is scored as if it had no links, which changes the PD of any "
    "applicant who has some"
)


def unlinked_warning(bundle: ScoringBundle, links: int) -> str | None:
    """What to tell the user when a model that reads borrower links scores applicants
    none of whose links came with them (None when it reads none, or some came)."""
    if links or not bundle.reads_links:
        return None
    relations = bundle.spec.relations
    return NO_LINKS_READ.format(file=relations.path if relations else "relations file")


def with_relations_beside(
    bundle: ScoringBundle, data: str | Path, *, query: str | None = None
) -> tuple[ScoringBundle, int]:
    """The bundle with the links of the applications in ``data`` — the relations file the
    spec names, beside them, read as training reads it — and how many links that was (0:
    the bundle as it is, for a database source, a model without relational features or no
    such file)."""
    location = local_path(data)
    # load_relations answers None for a spec without relations or no file beside the data.
    links = None if query or location is None else load_relations(bundle.spec, str(location))
    if links is None:
        return bundle, 0
    linked = bundle.with_relations(links)
    return linked, len(links) if linked is not bundle else 0


def score_file(
    bundle: ScoringBundle,
    data: str | Path,
    out: Path,
    *,
    query: str | None = None,
    on_error: str = "raise",
    refuse_implausible: bool = True,
    margin: float = 0.0,
    reasons: ReasonRows = "all",
) -> ScoreSummary:
    """Score every row of a file and write the predictions (and rejects) to ``out``.

    Parameters
    ----------
    bundle : ScoringBundle
    data : file path or database URL (with ``query``).
    out : output file; its suffix picks the format.
    on_error : {"raise", "skip"}
        What a row that cannot be scored does: stop the run, or be written to
        :func:`rejects_path` and left out.
    refuse_implausible : bool
        Treat values outside the spec's domain rules as unscorable (else flag them).
    margin : float
        Share of a training range a value may pass it by before it is flagged.
    reasons : {"all", "adverse", "none"}
        Which rows get their top reasons (``reason_K_code``, ``_feature``,
        ``_contribution``, ``_text``), as the cluster engine does: every row, the reviews
        and declines only (which Regulation B owes reasons; approvals' columns empty), or
        none (no reason columns).

    Raises
    ------
    ConfigError
        For a bad output suffix or ``on_error``.
    DataError
        Naming the first row and column that cannot be scored (``on_error="raise"``).
    ConsentMissingError
        When ``privacy.require_consent`` names a purpose a subject of the file has not
        consented to (the first such row is named).
    """
    check_options(out, on_error)
    settings = get_settings()
    install_dataset_reader()  # an encrypted input is read in place, from Python callers too
    frame = read_table(data, query=query)
    if settings.privacy.require_consent:
        _require_consent(frame, bundle, settings.privacy.require_consent, settings=settings)
    # New applicants' own links (a relations file beside them) reach the relational features.
    bundle, links = with_relations_beside(bundle, data, query=query)
    runtime = ScoringRuntime(bundle)
    problems = runtime.input_problems(frame, refuse_implausible=refuse_implausible)
    if problems and on_error == "raise":
        count = len({p.position for p in problems})
        raise DataError(
            CANNOT_SCORE.format(first=problems[0].message, count=count, s="s" * (count != 1))
        )
    rest = rows_without(frame, problems)
    coder = ReasonCoder.from_bundle(bundle, runtime=runtime) if reasons != "none" else None
    with measure_energy("predict:batch") as reading:
        scored = scored_with_reasons(
            runtime,
            coder,
            rest,
            refuse_implausible=refuse_implausible,
            margin=margin,
            rows=reasons,
        )
    if bundle.spec.id_column not in scored.columns:
        # No id names a score's applicant: its input row does (as in the rejects file and
        # the cluster engine's parts); with rows skipped, position alone would mislead.
        scored.insert(0, ROW_COLUMN, rest.index.to_numpy())
    write_table(scored, out)
    register_output(out, bundle.spec.id_column, scored.columns, settings=settings)
    record_scoring(
        rest,
        bundle.spec,
        model_name=bundle.model_name,
        model_version=bundle.version,
        dataset_sha=None,
        settings=settings,
    )
    rejects = None
    if problems:
        rejects = rejects_path(out)
        _rejects(frame, problems).to_csv(rejects, index=False)
    return ScoreSummary(
        rows=len(frame),
        scored=scored,
        skipped=len(frame) - len(rest),
        flagged=int((scored["flags"] != "").sum()),
        rejects=rejects,
        kwh=reading.kwh,
        method=reading.method,
        links=links,
        warning=unlinked_warning(bundle, links),
    )


def summary_line(summary: ScoreSummary, *, model: str, out: Path) -> str:
    """The one line ``greenscore score`` prints."""
    c = summary.counts
    skipped = f"; skipped {summary.skipped:,} (see {summary.rejects})" if summary.skipped else ""
    flagged = f"; {summary.flagged:,} flagged" if summary.flagged else ""
    links = f"; {summary.links:,} borrower links read with the rows" if summary.links else ""
    return (
        f"scored {len(summary.scored):,} of {summary.rows:,} rows with {model} -> {out} "
        f"(approve {c['approve']}, review {c['review']}, decline {c['decline']}"
        f"{skipped}{flagged}{links}; {summary.kwh * 1000:.4f} Wh, {summary.method})"
    )
