"""CLI for privacy: PII scan and anonymisation, encryption keys, backups, and GDPR records.

Three command groups: ``greenscore privacy`` (scan, anonymize, encrypt/decrypt, keys),
``greenscore backup`` (create, restore) and ``greenscore gdpr`` (consent, erase, purge,
lineage, datasets, retention). Erasure is an admin action that needs ``--user`` and
``--totp``; a refused attempt is audited too.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

privacy_app = typer.Typer(
    help="PII detection, anonymisation and encryption keys.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="Key-encryption keys: status, rotate, rewrap, retire.", no_args_is_help=True
)
backup_app = typer.Typer(
    help="Encrypted, checksummed backups of the home folder.", no_args_is_help=True
)
gdpr_app = typer.Typer(
    help="Consent, erasure, retention and lineage of personal data.", no_args_is_help=True
)
consent_app = typer.Typer(help="Consent per subject and purpose.", no_args_is_help=True)
datasets_app = typer.Typer(
    help="Registry of stored datasets with personal data.", no_args_is_help=True
)
retention_app = typer.Typer(help="Retention periods per store.", no_args_is_help=True)

DataOpt = Annotated[
    Path, typer.Option("--data", "-d", help="CSV, JSON or Parquet file (plain or .enc).")
]
PresetOpt = Annotated[
    str | None, typer.Option("--preset", "-p", help="Dataset preset naming PII and ids.")
]
SpecOpt = Annotated[
    Path | None, typer.Option("--spec", "-s", help="Dataset spec YAML naming PII and ids.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
SubjectOpt = Annotated[str, typer.Option("--subject", help="The subject's id.")]
ActorOpt = Annotated[
    str | None, typer.Option("--actor", help="Who is acting (default: your login name).")
]


def _actor(actor: str | None) -> str:
    return actor or getpass.getuser()


def _settings():  # noqa: ANN202 - Settings; imported late to keep --help fast
    from greenscore.config import get_settings

    return get_settings()


def _db():  # noqa: ANN202 - the settings' Database
    from greenscore.store import database

    return database(_settings())


def _subject_hash(subject: str) -> str:
    from greenscore.security.pseudonym import subject_hash

    return subject_hash(subject, settings=_settings())


def _csv(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _read(path: Path):  # noqa: ANN202 - a DataFrame; pandas is imported lazily
    from greenscore.privacy.object_format import is_encrypted

    if is_encrypted(path):
        from greenscore.privacy.at_rest import read_table as read_sealed_table

        return read_sealed_table(path)
    from greenscore.data.io import read_table

    return read_table(path)


def _spec(preset: str | None, spec: Path | None):  # noqa: ANN202 - a DatasetSpec or None
    from greenscore.errors import ConfigError

    if preset and spec:
        raise ConfigError("give --preset or --spec, not both")
    if preset:
        from greenscore.data.presets import load_preset

        return load_preset(preset)
    if spec:
        from greenscore.data.spec import DatasetSpec

        return DatasetSpec.from_yaml(spec)
    return None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


# ---------------------------------------------------------------- privacy
@privacy_app.command("scan")
def scan(
    data: DataOpt, preset: PresetOpt = None, spec: SpecOpt = None, as_json: JsonOpt = False
) -> None:
    """Classify each column: direct identifier, quasi-identifier, sensitive or none."""
    from greenscore.privacy.pii import scan_columns

    result = scan_columns(_read(data), _spec(preset, spec))
    if as_json:
        _echo_json(json.loads(result.to_json(orient="records")))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("column", "classification", "entities", "hit rate", "reason")
    for row in result.itertuples(index=False):
        rate = "" if row.hit_rate != row.hit_rate else f"{row.hit_rate:.0%}"  # NaN: not scanned
        table.add_row(row.column, row.classification, ", ".join(row.entities), rate, row.reason)
    Console().print(table)


@privacy_app.command("anonymize")
def anonymize(
    data: DataOpt,
    k: Annotated[int, typer.Option("--k", help="Smallest equivalence class.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the anonymised table.")],
    l_div: Annotated[
        int | None, typer.Option("--l", help="Distinct sensitive values per class.")
    ] = None,
    quasi: Annotated[
        str | None,
        typer.Option("--quasi", help="Quasi-identifiers, comma-separated (default: scan)."),
    ] = None,
    sensitive: Annotated[
        str | None, typer.Option("--sensitive", help="Sensitive column for --l.")
    ] = None,
    tokenize: Annotated[
        str | None, typer.Option("--tokenize", help="Identifiers to tokenise instead of drop.")
    ] = None,
    vault: Annotated[
        bool, typer.Option("--vault", help="Keep tokenised originals in the vault.")
    ] = False,
    max_suppression: Annotated[
        float | None, typer.Option("--max-suppression", help="Largest share of rows to suppress.")
    ] = None,
    preset: PresetOpt = None,
    spec: SpecOpt = None,
    encrypt: Annotated[
        bool | None,
        typer.Option("--encrypt/--no-encrypt", help="Encrypt the output (default: settings)."),
    ] = None,
) -> None:
    """Drop or tokenise direct identifiers, then generalise and suppress to k-anonymity."""
    from greenscore.errors import ConfigError
    from greenscore.privacy.anonymize import anonymize_frame
    from greenscore.privacy.at_rest import write_table
    from greenscore.privacy.pii import columns_of, scan_columns

    frame = _read(data)
    scan_result = scan_columns(frame, _spec(preset, spec))
    quasi_cols = _csv(quasi) or columns_of(scan_result, "quasi_identifier")
    if not quasi_cols:
        raise ConfigError("no quasi-identifiers found by the scan; name them with --quasi")
    tokenised = _csv(tokenize)
    direct = [c for c in columns_of(scan_result, "direct_identifier") if c not in tokenised]
    drop = [c for c in direct if c not in quasi_cols and c != sensitive]
    result = anonymize_frame(
        frame,
        quasi=quasi_cols,
        k=k,
        l_diversity=l_div,
        sensitive=sensitive,
        drop=drop,
        tokenize_columns=tokenised,
        vault=_db() if vault else None,
        max_suppression=max_suppression,
    )
    written = write_table(result.frame, out, encrypt=encrypt)
    report = {"out": str(written), **result.report}
    _echo_json(report)


@privacy_app.command("encrypt")
def encrypt(
    src: Annotated[Path, typer.Argument(help="File to encrypt.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Encrypted file to write.")],
    kind: Annotated[
        str, typer.Option("--kind", help="What the file is (kept in its header).")
    ] = "file",
) -> None:
    """Encrypt a file under a fresh data key wrapped by the current KEK."""
    from greenscore.privacy.crypto import encrypt_file

    typer.echo(str(encrypt_file(src, out, kind=kind)))


@privacy_app.command("decrypt")
def decrypt(
    src: Annotated[Path, typer.Argument(help="Encrypted file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Plain file to write.")],
) -> None:
    """Decrypt a file (refused when tampered, swapped, or under a retired key)."""
    from greenscore.privacy.crypto import decrypt_file

    typer.echo(str(decrypt_file(src, out)))


@keys_app.command("status")
def keys_status(as_json: JsonOpt = False) -> None:
    """List KEK versions, which is current, and how many files each wraps."""
    from greenscore.privacy.keys import Keyring

    rows = Keyring.open().status()
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        mark = "*" if row["current"] else " "
        retired = f" retired {row['retired']}" if row["retired"] else ""
        typer.echo(
            f"{mark} v{row['version']}  created {row['created']}  files {row['files']}{retired}"
        )


@keys_app.command("rotate")
def keys_rotate(actor: ActorOpt = None) -> None:
    """Add a new KEK version and make it current (existing files keep opening)."""
    from greenscore.privacy.keys import Keyring
    from greenscore.security.audit import record_event

    version = Keyring.open().rotate()
    record_event(
        "privacy.keys.rotate",
        actor=_actor(actor),
        details={"version": version},
        settings=_settings(),
    )
    typer.echo(f"current KEK version: {version}")


@keys_app.command("rewrap")
def keys_rewrap(
    files: Annotated[
        list[Path] | None, typer.Argument(help="Files to rewrap (default: every known file).")
    ] = None,
    actor: ActorOpt = None,
) -> None:
    """Re-wrap files' data keys with the current KEK (the ciphertext is not touched).

    Without FILES, what is sealed in the database is moved too: the secrets (TOTP, JWT
    keys) and the sealed units (job inputs and results, dead letters); then every user of
    an older KEK is gone and 'greenscore privacy keys retire' may destroy it.
    """
    from greenscore.privacy import sealed
    from greenscore.privacy.crypto import rewrap_file
    from greenscore.privacy.keys import Keyring
    from greenscore.security._secrets import reseal_all
    from greenscore.security.audit import record_event

    settings = _settings()
    keyring = Keyring.open(settings)
    targets = files or keyring.known_files()
    for path in targets:
        rewrap_file(path, keyring=keyring)
    secrets = 0 if files else reseal_all(settings)
    units = 0 if files else sealed.rewrap(db=_db())
    record_event(
        "privacy.keys.rewrap",
        actor=_actor(actor),
        details={
            "files": len(targets),
            "secrets": secrets,
            "sealed_units": units,
            "version": keyring.current_version,
        },
        settings=settings,
    )
    typer.echo(f"rewrapped {len(targets)} file(s) to KEK version {keyring.current_version}")
    if secrets:
        typer.echo(
            f"re-sealed {secrets} database secret(s) to KEK version {keyring.current_version}"
        )
    if units:
        typer.echo(
            f"re-sealed {units} sealed unit(s) (job data, dead letters) to KEK version "
            f"{keyring.current_version}"
        )


@keys_app.command("retire")
def keys_retire(
    version: Annotated[int, typer.Argument(help="KEK version to destroy.")],
    actor: ActorOpt = None,
) -> None:
    """Destroy an old KEK (refused while any known file still uses it)."""
    from greenscore.privacy.keys import Keyring
    from greenscore.security.audit import record_event

    Keyring.open(_settings()).retire(version)
    record_event(
        "privacy.keys.retire",
        actor=_actor(actor),
        details={"version": version},
        settings=_settings(),
    )
    typer.echo(f"KEK version {version} retired")


# ---------------------------------------------------------------- backup
@backup_app.command("create")
def backup_create(
    out: Annotated[Path, typer.Option("--out", "-o", help="Backup file to write.")],
    actor: ActorOpt = None,
) -> None:
    """Back up the home folder: a tar with a SHA-256 manifest, encrypted under the master key."""
    from greenscore.privacy.backup import create_backup
    from greenscore.security.audit import record_event

    report = create_backup(out)
    # A full copy of every record leaves the machine: who took it is worth an audit line.
    record_event(
        "privacy.backup.create",
        actor=_actor(actor),
        details={"path": str(report.path), "files": report.files, "bytes": report.bytes},
        settings=_settings(),
    )
    typer.echo(f"backed up {report.files} file(s), {report.bytes} bytes, to {report.path}")


@backup_app.command("restore")
def backup_restore(
    src: Annotated[Path, typer.Argument(help="Backup file.")],
    to: Annotated[Path, typer.Option("--to", help="Empty folder to restore into.")],
) -> None:
    """Decrypt a backup, verify every checksum, and restore it (nothing is written on mismatch)."""
    from greenscore.privacy.backup import restore_backup

    report = restore_backup(src, to)
    typer.echo(
        f"restored {report.files} verified file(s), {report.bytes} bytes, into {report.path}"
    )


# ---------------------------------------------------------------- gdpr
@consent_app.command("grant")
def consent_grant(
    subject: SubjectOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="e.g. credit_scoring, marketing.")],
    source: Annotated[str | None, typer.Option("--source", help="Where consent was given.")] = None,
    actor: ActorOpt = None,
) -> None:
    """Record a subject's consent to a purpose."""
    from greenscore.privacy.consent import grant_consent

    event = grant_consent(
        _subject_hash(subject), purpose, actor=_actor(actor), source=source, settings=_settings()
    )
    typer.echo(f"consent to '{event.purpose}' granted at {event.at.isoformat(timespec='seconds')}")


@consent_app.command("revoke")
def consent_revoke(
    subject: SubjectOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="The purpose withdrawn.")],
    source: Annotated[str | None, typer.Option("--source", help="Where it was withdrawn.")] = None,
    actor: ActorOpt = None,
) -> None:
    """Record that a subject withdraws consent to a purpose."""
    from greenscore.privacy.consent import revoke_consent

    event = revoke_consent(
        _subject_hash(subject), purpose, actor=_actor(actor), source=source, settings=_settings()
    )
    typer.echo(f"consent to '{event.purpose}' revoked at {event.at.isoformat(timespec='seconds')}")


@consent_app.command("show")
def consent_show(subject: SubjectOpt, as_json: JsonOpt = False) -> None:
    """Show a subject's current consent per purpose and its history."""
    from greenscore.privacy.consent import consent_history, consent_status

    hashed, db = _subject_hash(subject), _db()
    status = consent_status(hashed, db=db)
    history = [
        {
            "purpose": e.purpose,
            "granted": e.granted,
            "at": e.at.isoformat(),
            "actor": e.actor,
            "source": e.source,
        }
        for e in consent_history(hashed, db=db)
    ]
    if as_json:
        _echo_json({"current": status, "history": history})
        return
    if not history:
        typer.echo("no consent recorded for this subject")
    for purpose, granted in sorted(status.items()):
        typer.echo(f"{purpose}: {'granted' if granted else 'revoked'}")
    for event in history:
        verb = "grant " if event["granted"] else "revoke"
        typer.echo(f"  {event['at']}  {verb}  {event['purpose']}  by {event['actor']}")


@gdpr_app.command("erase")
def gdpr_erase(
    subject: SubjectOpt,
    user: Annotated[str, typer.Option("--user", help="Enrolled admin performing the erasure.")],
    totp: Annotated[str, typer.Option("--totp", help="Current TOTP code of --user.")],
) -> None:
    """Erase a subject from every registered dataset, consent, lineage and the prediction cache."""
    from greenscore.errors import AuthError
    from greenscore.privacy.gdpr import authorize_erasure, erase
    from greenscore.security.audit import record_event

    settings = _settings()
    try:
        authorize_erasure(user, totp, settings=settings)
    except AuthError as exc:
        record_event(
            "cli.refused",
            actor=user or "unknown",
            details={"command": "gdpr erase", "action": "gdpr:erase", "reason": exc.message},
            settings=settings,
        )
        raise
    report = erase(subject, actor=user, settings=settings)
    _echo_json(
        {**report.as_dict(), "rows_removed": report.total, "audit_event": report.audit_event_id}
    )


@gdpr_app.command("purge")
def gdpr_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, do not delete.")] = False,
    actor: ActorOpt = None,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="Purge on privacy.purge_schedule (cron, UTC) until stopped, as 'scheduler'.",
        ),
    ] = False,
) -> None:
    """Delete personal data older than its retention period (privacy.retention_days or policy)."""
    from greenscore.privacy.retention import purge

    if schedule:
        from greenscore.errors import ConfigError
        from greenscore.privacy.purge_schedule import build_purge_scheduler

        if dry_run or actor:
            raise ConfigError("--schedule purges as 'scheduler': give no --dry-run or --actor")
        settings = _settings()
        scheduler = build_purge_scheduler(settings=settings)
        typer.echo(
            f"retention purges on '{settings.privacy.purge_schedule}' (UTC); Ctrl-C stops",
            err=True,
        )
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            pass
        return
    report = purge(actor=_actor(actor), dry_run=dry_run, settings=_settings())
    _echo_json(
        {
            "dry_run": report.dry_run,
            "deleted": report.deleted,
            "skipped": report.skipped,
            "cutoffs": report.cutoffs,
        }
    )


@gdpr_app.command("lineage")
def gdpr_lineage(subject: SubjectOpt) -> None:
    """Which datasets and model versions used a subject's data."""
    from greenscore.privacy.lineage import lineage_for

    _echo_json(lineage_for(_subject_hash(subject), db=_db()))


@datasets_app.command("add")
def datasets_add(
    path: Annotated[Path, typer.Argument(help="Stored dataset file (plain or .enc).")],
    id_column: Annotated[
        str,
        typer.Option(
            "--id-column",
            help="Column identifying the subject; several comma-separated (source_id,target_id).",
        ),
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Registry name (default: file name).")
    ] = None,
    time_column: Annotated[
        str | None, typer.Option("--time-column", help="Column dating each row, for retention.")
    ] = None,
) -> None:
    """Register a dataset so erasure and retention reach it."""
    from greenscore.privacy.registry import register_dataset

    entry = register_dataset(
        path, id_column=id_column, name=name, time_column=time_column, db=_db()
    )
    typer.echo(f"registered '{entry.name}' ({entry.path}, id column {', '.join(entry.id_columns)})")


@datasets_app.command("list")
def datasets_list(as_json: JsonOpt = False) -> None:
    """List registered datasets."""
    from greenscore.privacy.registry import list_datasets

    rows = [
        {
            "name": e.name,
            "path": str(e.path),
            "id_column": e.id_column,
            "time_column": e.time_column,
            "encrypted": e.encrypted,
            "sha256": e.sha256,
        }
        for e in list_datasets(db=_db())
    ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        lock = " (encrypted)" if row["encrypted"] else ""
        typer.echo(
            f"{row['name']}: {row['path']}{lock}, id {row['id_column']}, time {row['time_column']}"
        )


@datasets_app.command("remove")
def datasets_remove(name: Annotated[str, typer.Argument(help="Registry name.")]) -> None:
    """Unregister a dataset (its file is left alone)."""
    from greenscore.privacy.registry import unregister_dataset

    unregister_dataset(name, db=_db())
    typer.echo(f"unregistered '{name}'")


@retention_app.command("set")
def retention_set(
    target: Annotated[
        str,
        typer.Argument(
            help="predictions, outcomes, lineage, consent, token_vault, jobs, dead_letters "
            "or dataset:<name>."
        ),
    ],
    days: Annotated[int, typer.Argument(help="Days to keep records.")],
) -> None:
    """Override the retention period of one store."""
    from greenscore.privacy.retention import set_retention

    set_retention(target, days, db=_db())
    typer.echo(f"retention of {target}: {days} days")


def register(app: typer.Typer) -> None:
    """Add the ``privacy``, ``backup`` and ``gdpr`` command groups."""
    privacy_app.add_typer(keys_app, name="keys")
    gdpr_app.add_typer(consent_app, name="consent")
    gdpr_app.add_typer(datasets_app, name="datasets")
    gdpr_app.add_typer(retention_app, name="retention")
    app.add_typer(privacy_app, name="privacy")
    app.add_typer(backup_app, name="backup")
    app.add_typer(gdpr_app, name="gdpr")
