"""CLI for the security core: API keys, JWT signing keys, operators' TOTP, audit log, TLS,
model bundle signatures.

Every command that changes credentials or trust is an admin action: it takes ``--user``
and ``--totp`` of an enrolled admin, checked with TOTP and RBAC, and is itself written to
the audit log (refusals too). Secrets (API keys, TOTP secrets, tokens) are printed once,
on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from greenscore.security.principal import Principal

keys_app = typer.Typer(help="API keys for machine callers.", no_args_is_help=True)
tokens_app = typer.Typer(help="JWT signing keys and operator tokens.", no_args_is_help=True)
mfa_app = typer.Typer(help="Operators' second factor (TOTP).", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
tls_app = typer.Typer(help="TLS certificates for the scoring service.", no_args_is_help=True)
model_app = typer.Typer(help="Model bundles: signatures.", no_args_is_help=True)

UserOpt = Annotated[str, typer.Option("--user", help="Enrolled admin performing the action.")]
TotpOpt = Annotated[str, typer.Option("--totp", help="Current TOTP code of --user.")]


def _settings():  # noqa: ANN202 - Settings; imported late to keep --help fast
    from greenscore.config import get_settings

    return get_settings()


def _operator(user: str, code: str, command: str, action: str | None = None) -> Principal:
    """Authenticate an operator (and authorise ``action``); refusals are audited too."""
    from greenscore.errors import AuthError
    from greenscore.security import authenticate_user, authorize, record_event

    try:
        principal = authenticate_user(user, code, settings=_settings())
        if action is not None:
            authorize(principal, action)
    except AuthError as exc:
        record_event(
            "cli.refused",
            actor=user or "unknown",
            details={"command": command, "action": action, "reason": exc.message},
            settings=_settings(),
        )
        raise
    return principal


def _admin(user: str, code: str, action: str, command: str) -> str:
    """Authenticate and authorise an operator; refusals are audited too. Returns the actor."""
    return _operator(user, code, command, action).id


# ---------------------------------------------------------------- keys
@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    role: Annotated[str, typer.Option("--role", help="scorer, analyst or admin.")],
    user: UserOpt,
    totp: TotpOpt,
    ttl_days: Annotated[
        int | None, typer.Option("--ttl-days", help="Days until it expires (default: settings).")
    ] = None,
) -> None:
    """Create an API key and print it once."""
    from greenscore.security import create_key, record_event
    from greenscore.security.rbac import check_role

    check_role(role)
    actor = _admin(user, totp, "keys:manage", "keys create")
    key_id, plaintext = create_key(name=name, role=role, ttl_days=ttl_days, settings=_settings())
    record_event(
        "keys.create",
        actor=actor,
        details={"key_id": key_id, "name": name, "role": role, "ttl_days": ttl_days},
        settings=_settings(),
    )
    typer.echo(f"key_id: {key_id}")
    typer.echo(f"key: {plaintext}")
    typer.echo("store the key now: it is not shown again", err=True)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List API keys (ids, names, roles, status; never the secret)."""
    from greenscore.security import list_keys

    keys = list_keys(settings=_settings())
    if as_json:
        typer.echo(json.dumps(keys, indent=2))
        return
    if not keys:
        typer.echo("no API keys")
        return
    for k in keys:
        typer.echo(
            f"{k['key_id']}  {k['role']:<8} {k['status']:<8} expires {k['expires_at']}  {k['name']}"
        )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Id of the key to revoke.")],
    user: UserOpt,
    totp: TotpOpt,
) -> None:
    """Revoke an API key."""
    from greenscore.security import record_event, revoke_key

    actor = _admin(user, totp, "keys:manage", "keys revoke")
    revoke_key(key_id, settings=_settings())
    record_event("keys.revoke", actor=actor, details={"key_id": key_id}, settings=_settings())
    typer.echo(f"revoked {key_id}")


# ---------------------------------------------------------------- tokens
SUBJECT_AND_ROLE = "--subject and --role go together (a service token); give both or neither"


@tokens_app.command("issue")
def tokens_issue(
    user: Annotated[
        str, typer.Option("--user", help="Enrolled operator (an admin, for --subject).")
    ],
    totp: TotpOpt,
    subject: Annotated[
        str | None,
        typer.Option("--subject", help="Service the token is for (no MFA); omit for --user's own."),
    ] = None,
    role: Annotated[
        str | None,
        typer.Option("--role", help="Role of the --subject token: scorer, analyst, admin."),
    ] = None,
    ttl_seconds: Annotated[
        int | None, typer.Option("--ttl-seconds", help="Lifetime (default: settings).")
    ] = None,
) -> None:
    """Issue a bearer token (JWT) and print it.

    Without --subject: a short-lived token for --user itself, with the role of its TOTP
    enrolment and MFA verified (what the admin API's model reload needs), lasting
    security.mfa_token_ttl_seconds at most. With --subject and --role: a service token
    an admin issues (no MFA), lasting security.jwt_ttl_seconds unless --ttl-seconds.
    """
    from greenscore.errors import ConfigError
    from greenscore.security import issue_token, record_event

    settings = _settings()
    if (subject is None) != (role is None):
        raise ConfigError(SUBJECT_AND_ROLE)
    if subject is None:
        principal = _operator(user, totp, "tokens issue")
        limit = settings.security.mfa_token_ttl_seconds
        ttl = limit if ttl_seconds is None else min(ttl_seconds, limit)
        token = issue_token(
            subject=principal.id, role=principal.role, ttl_seconds=ttl, mfa=True, settings=settings
        )
        details = {"token_subject": principal.id, "role": principal.role, "mfa": True}
        record_event(
            "tokens.issue",
            actor=principal.id,
            details={**details, "ttl_seconds": ttl},
            settings=settings,
        )
    else:
        assert role is not None
        actor = _admin(user, totp, "keys:manage", "tokens issue")
        token = issue_token(subject=subject, role=role, ttl_seconds=ttl_seconds, settings=settings)
        record_event(
            "tokens.issue",
            actor=actor,
            details={
                "token_subject": subject,
                "role": role,
                "mfa": False,
                "ttl_seconds": ttl_seconds,
            },
            settings=settings,
        )
    typer.echo(token)


@tokens_app.command("rotate")
def tokens_rotate(user: UserOpt, totp: TotpOpt) -> None:
    """Make a new JWT signing key active; tokens signed before stay valid until they expire."""
    from greenscore.security import record_event, rotate_signing_key

    actor = _admin(user, totp, "keys:manage", "tokens rotate")
    kid = rotate_signing_key(settings=_settings())
    record_event("tokens.rotate", actor=actor, details={"kid": kid}, settings=_settings())
    typer.echo(f"active signing key: {kid}")


@tokens_app.command("retire")
def tokens_retire(
    kid: Annotated[str, typer.Argument(help="Signing key id to stop accepting.")],
    user: UserOpt,
    totp: TotpOpt,
) -> None:
    """Stop accepting tokens signed by a former signing key."""
    from greenscore.security import record_event, retire_signing_key

    actor = _admin(user, totp, "keys:manage", "tokens retire")
    retire_signing_key(kid, settings=_settings())
    record_event("tokens.retire", actor=actor, details={"kid": kid}, settings=_settings())
    typer.echo(f"retired {kid}")


# ---------------------------------------------------------------- mfa
@mfa_app.command("enroll")
def mfa_enroll(
    user: Annotated[str, typer.Option("--user", help="Operator to enrol.")],
    role: Annotated[str, typer.Option("--role", help="Role a verified code grants.")] = "admin",
    replace: Annotated[
        bool, typer.Option("--replace", help="Issue a new secret to an enrolled user.")
    ] = False,
    by: Annotated[
        str | None, typer.Option("--by", help="Enrolled admin approving (not for the first).")
    ] = None,
    totp: Annotated[str | None, typer.Option("--totp", help="Current TOTP code of --by.")] = None,
) -> None:
    """Enrol an operator for TOTP and print the secret and otpauth:// URI once.

    The first operator ever enrolled must be an admin and needs no approval; every later
    enrolment is an admin action (``--by`` and ``--totp``).
    """
    from greenscore.errors import AuthError, ConfigError
    from greenscore.security import enroll, record_event
    from greenscore.security.mfa import enrolled_users
    from greenscore.security.rbac import check_role

    check_role(role)
    bootstrap = not enrolled_users(settings=_settings())
    if bootstrap:
        if role != "admin":
            raise ConfigError("the first enrolled operator must have role 'admin'")
        actor = user
    else:
        if not by or not totp:
            raise AuthError("enrolling an operator needs --by and --totp of an enrolled admin")
        actor = _admin(by, totp, "users:manage", "mfa enroll")
    secret, uri = enroll(user, role=role, replace=replace, settings=_settings())
    record_event(
        "mfa.enroll",
        actor=actor,
        details={"user": user, "role": role, "replace": replace, "bootstrap": bootstrap},
        settings=_settings(),
    )
    typer.echo(f"secret: {secret}")
    typer.echo(f"uri: {uri}")
    typer.echo("add it to an authenticator app now: it is not shown again", err=True)


@mfa_app.command("unlock")
def mfa_unlock(
    user: Annotated[str, typer.Option("--user", help="Operator to unlock.")],
    by: Annotated[str, typer.Option("--by", help="Enrolled admin unlocking.")],
    totp: Annotated[str, typer.Option("--totp", help="Current TOTP code of --by.")],
) -> None:
    """Lift an operator's TOTP back-off or lockout (after too many wrong codes)."""
    from greenscore.security import record_event
    from greenscore.security.mfa import unlock_user

    actor = _admin(by, totp, "users:manage", "mfa unlock")
    failures = unlock_user(user, settings=_settings())
    record_event(
        "mfa.unlock",
        actor=actor,
        details={"user": user, "failures": failures},
        settings=_settings(),
    )
    typer.echo(f"unlocked {user} ({failures} wrong codes cleared)")


# ---------------------------------------------------------------- audit
def _os_actor() -> str:
    """Who runs an unauthenticated but audited command: the operating-system user."""
    import getpass
    import os

    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (some containers)
        return f"os:uid-{os.getuid()}"


@audit_app.command("verify")
def audit_verify(
    anchor: Annotated[
        Path | None,
        typer.Option("--anchor", help="Anchor file from 'greenscore audit anchor' to check."),
    ] = None,
) -> None:
    """Check every MAC and link of the audit log (and the anchor); exit 2 naming the first
    bad entry."""
    from greenscore.errors import DataError
    from greenscore.security import verify_chain
    from greenscore.security.anchor import read_anchor, verify_against

    settings = _settings()
    result = (
        verify_against(read_anchor(anchor, settings), settings)
        if anchor is not None
        else verify_chain(settings=settings)
    )
    if not result.ok:
        raise DataError(
            f"audit log NOT verified: {result.reason} (first bad entry id {result.first_bad_id}; "
            f"{result.checked} entries before it are intact)"
        )
    typer.echo(f"audit log verified: {result.reason if anchor else f'{result.checked} entries'}")


@audit_app.command("anchor")
def audit_anchor(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write the anchor to.")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="http(s) endpoint to POST the anchor to.")
    ] = None,
) -> None:
    """Write the audit chain's head, signed, outside the database (a file or a URL).

    Keep anchors where the database's writers cannot change them, and check the log
    against the latest with 'greenscore audit verify --anchor FILE': entries deleted
    since (with the head rewritten) are caught.
    """
    from urllib.parse import urlsplit

    from greenscore.errors import ConfigError
    from greenscore.security import record_event
    from greenscore.security.anchor import current_anchor, post_anchor, write_anchor

    if out is None and url is None:
        raise ConfigError("give --out FILE or --url URL (or both) for the anchor")
    where = {"out": str(Path(out).resolve()) if out else None}
    if url:
        parts = urlsplit(url)
        where["url"] = f"{parts.scheme}://{parts.hostname}{parts.path}"  # never credentials
    settings = _settings()
    record_event("audit.anchor", actor=_os_actor(), details=where, settings=settings)
    anchor = current_anchor(settings)
    document = anchor.signed(settings)
    if out is not None:
        write_anchor(document, out)
    if url is not None:
        post_anchor(document, url)
    typer.echo(
        f"anchored {anchor.count} entries (last id {anchor.last_id}) to "
        + " and ".join(v for v in where.values() if v)
    )


SinceOpt = Annotated[
    str | None, typer.Option("--since", help="Events at or after this UTC time (ISO 8601).")
]
UntilOpt = Annotated[
    str | None, typer.Option("--until", help="Events before this UTC time (ISO 8601).")
]
ActorFilterOpt = Annotated[str | None, typer.Option("--actor", help="Exact actor.")]
ActionFilterOpt = Annotated[
    str | None, typer.Option("--action", help="Exact action, or a prefix ending in * (gdpr.*).")
]
SubjectFilterOpt = Annotated[
    str | None,
    typer.Option("--subject", help="A subject's id (searched by its pseudonym, never stored)."),
]


def _audit_query(**filters: str | None):  # noqa: ANN202 - an AuditQuery
    from greenscore.security.audit_search import AuditQuery

    return AuditQuery.parse(**filters)


@audit_app.command("search")
def audit_search(
    since: SinceOpt = None,
    until: UntilOpt = None,
    actor: ActorFilterOpt = None,
    action: ActionFilterOpt = None,
    subject: SubjectFilterOpt = None,
    limit: Annotated[int, typer.Option("--limit", help="Most events (newest first).")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON Lines.")] = False,
) -> None:
    """Show audit events by time range, actor, action and subject, newest first.

    The search itself is audited (``audit.search``, with its filters, the subject hashed).
    """
    from greenscore.security import record_event
    from greenscore.security.audit_search import search_events

    settings = _settings()
    query = _audit_query(since=since, until=until, actor=actor, action=action, subject=subject)
    events = search_events(query, settings=settings, limit=limit)
    record_event("audit.search", actor=_os_actor(), details=query.filters(), settings=settings)
    for event in events:
        if as_json:
            typer.echo(json.dumps(event, sort_keys=True, ensure_ascii=False))
        else:
            who = f" subject {event['subject_hash'][:12]}" if event["subject_hash"] else ""
            typer.echo(f"{event['id']:>7} {event['ts']} {event['action']} by {event['actor']}{who}")
    if not as_json:
        typer.echo(f"{len(events)} events", err=True)


@audit_app.command("export")
def audit_export(
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write: .jsonl or .csv.")],
    since: SinceOpt = None,
    until: UntilOpt = None,
    actor: ActorFilterOpt = None,
    action: ActionFilterOpt = None,
    subject: SubjectFilterOpt = None,
) -> None:
    """Write every matching audit event, oldest first, with its MAC and link, as JSON Lines
    or CSV. The export itself is audited (``audit.export``)."""
    from greenscore.security import record_event
    from greenscore.security.audit_search import export_events

    settings = _settings()
    query = _audit_query(since=since, until=until, actor=actor, action=action, subject=subject)
    count = export_events(query, out, settings=settings)
    record_event(
        "audit.export",
        actor=_os_actor(),
        details={**query.filters(), "out": str(Path(out).resolve()), "events": count},
        settings=settings,
    )
    typer.echo(f"exported {count} events to {out}")


# ---------------------------------------------------------------- tls
@tls_app.command("selfsigned")
def tls_selfsigned(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for cert.pem and key.pem.")],
    host: Annotated[str, typer.Option("--host", help="DNS name or IP.")] = "localhost",
) -> None:
    """Write a self-signed certificate and key for local TLS."""
    from greenscore.security import generate_self_signed

    cert, key = generate_self_signed(out, host=host)
    typer.echo(f"certificate: {cert}")
    typer.echo(f"key: {key}")


# ---------------------------------------------------------------- model
@model_app.command("sign")
def model_sign(
    model: Annotated[Path, typer.Option("--model", "-m", help="Bundle folder to sign.")],
    user: UserOpt,
    totp: TotpOpt,
) -> None:
    """Sign a bundle folder you trust (one saved before signatures, or from another home).

    Loading refuses unsigned bundles because a bundle is a pickle: sign only bundles whose
    origin you know. Nothing in the folder is unpickled here.
    """
    from greenscore.models.bundle import BUNDLE_FILE, NO_BUNDLE, NoBundleError
    from greenscore.privacy.at_rest import ENCRYPTED_BUNDLE_FILE
    from greenscore.privacy.signing import sign_folder, signed_manifest
    from greenscore.security import record_event

    folder = Path(model)
    if not any((folder / name).is_file() for name in (BUNDLE_FILE, ENCRYPTED_BUNDLE_FILE)):
        raise NoBundleError(NO_BUNDLE.format(folder=folder))  # the caller's typo: exit 2
    actor = _admin(user, totp, "models:manage", "model sign")
    sign_folder(folder)
    files = signed_manifest(folder)
    record_event(
        "models.sign",
        actor=actor,
        details={"folder": str(folder.resolve()), "files": files},
        settings=_settings(),
    )
    typer.echo(f"signed {folder} ({len(files)} files)")


def register(app: typer.Typer) -> None:
    """Add the ``keys``, ``tokens``, ``mfa``, ``audit``, ``tls`` and ``model`` command groups."""
    app.add_typer(keys_app, name="keys")
    app.add_typer(tokens_app, name="tokens")
    app.add_typer(mfa_app, name="mfa")
    app.add_typer(audit_app, name="audit")
    app.add_typer(tls_app, name="tls")
    app.add_typer(model_app, name="model")
