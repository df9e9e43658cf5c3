"""Masking and deterministic tokenisation of direct identifiers, with an optional token vault.

A token is ``tok_`` + the first 24 hex digits of HMAC-SHA256(key, value): the same value
always gets the same token (joins and counts still work), and without the key a token
cannot be recomputed from a guessed value. The key is derived from the master key unless
one is given. Tokens are one-way; the only way back is the **token vault**, a table that
keeps each original value encrypted (envelope encryption, one data key per value) and
is consulted only on purpose through :func:`detokenize`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

import pandas as pd
from sqlalchemy import delete, select

from greenscore.errors import ConfigError, NotFoundError
from greenscore.store import Database, affected_rows
from greenscore.store.tables.privacy import TokenVaultEntry

TOKEN_PREFIX = "tok_"
TOKEN_HEX = 24
_TOKEN_SALT = b"greenscore-tokenisation"


def mask(values: pd.Series, *, keep_last: int = 4, char: str = "*") -> pd.Series:
    """Replace all but the last ``keep_last`` characters of each value with ``char``.

    Missing values stay missing; values no longer than ``keep_last`` are masked entirely.
    """
    if keep_last < 0 or len(char) != 1:
        raise ConfigError("mask needs keep_last >= 0 and a one-character mask")

    def one(value: object) -> object:
        if pd.isna(value):
            return None
        text = str(value)
        shown = keep_last if len(text) > keep_last else 0
        return char * (len(text) - shown) + (text[-shown:] if shown else "")

    return values.map(one).astype(object)


def tokenisation_key() -> bytes:
    """The HMAC key derived from the master key for tokenisation (stable across runs)."""
    from greenscore.privacy.keys import MasterKey

    return MasterKey.from_settings().derive(_TOKEN_SALT, "tokenisation")


def token_for(value: object, *, key: bytes | None = None) -> str:
    """The token of one value."""
    key = key if key is not None else tokenisation_key()
    digest = hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return TOKEN_PREFIX + digest[:TOKEN_HEX]


def tokenize(
    values: pd.Series,
    *,
    key: bytes | None = None,
    vault: Database | None = None,
    column: str | None = None,
) -> pd.Series:
    """Replace each value by its deterministic token; optionally keep the originals in the vault.

    Parameters
    ----------
    values : Series
        The identifiers; missing values stay missing.
    key : bytes, optional
        HMAC key; defaults to :func:`tokenisation_key`.
    vault : Database, optional
        Store each distinct original, encrypted, in this database's token vault, so
        :func:`detokenize` can reverse it (None: the originals are not kept).
    column : str, optional
        Column name recorded in the vault (defaults to the series name).
    """
    key = key if key is not None else tokenisation_key()
    distinct = {v: token_for(v, key=key) for v in pd.unique(values.dropna())}
    if vault is not None and distinct:
        _store(
            distinct,
            column=column or (str(values.name) if values.name is not None else None),
            db=vault,
        )
    return values.map(lambda v: distinct.get(v) if pd.notna(v) else None).astype(object)


def _store(tokens: dict[object, str], *, column: str | None, db: Database) -> None:
    from greenscore.privacy.crypto import encrypt_bytes
    from greenscore.privacy.keys import Keyring

    keyring = Keyring.open()
    now = datetime.now(UTC)
    with db.session() as session:
        wanted = list(tokens.values())
        present: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            present |= set(
                session.execute(
                    select(TokenVaultEntry.token).where(TokenVaultEntry.token.in_(chunk))
                )
                .scalars()
                .all()
            )
        for value, token in tokens.items():
            if token in present:
                continue
            blob = encrypt_bytes(
                str(value).encode("utf-8"), name=f"token/{token}", kind="token", keyring=keyring
            )
            session.add(
                TokenVaultEntry(token=token, column=column, ciphertext=blob, created_at=now)
            )


def detokenize(tokens: pd.Series, *, db: Database) -> pd.Series:
    """The original values of tokens, from the vault (as strings).

    Raises
    ------
    NotFoundError
        If a token is not in the vault (it was never vaulted, or its subject was erased).
    """
    from greenscore.privacy.crypto import decrypt_bytes
    from greenscore.privacy.keys import Keyring

    wanted = [t for t in pd.unique(tokens.dropna())]
    with db.session() as session:
        rows = {
            r.token: r.ciphertext
            for r in session.execute(
                select(TokenVaultEntry).where(TokenVaultEntry.token.in_(wanted))
            )
            .scalars()
            .all()
        }
    missing = [t for t in wanted if t not in rows]
    if missing:
        raise NotFoundError(
            f"token '{missing[0]}' is not in the token vault ({len(missing)} missing)"
        )
    keyring = Keyring.open()
    originals = {
        t: decrypt_bytes(blob, name=f"token/{t}", keyring=keyring).decode("utf-8")
        for t, blob in rows.items()
    }
    return tokens.map(lambda t: originals.get(t) if pd.notna(t) else None).astype(object)


def forget_value(value: object, *, key: bytes | None = None, db: Database) -> int:
    """Delete a value's vault entry (erasure); returns the number of rows removed."""
    token = token_for(value, key=key)
    with db.session() as session:
        return affected_rows(
            session.execute(delete(TokenVaultEntry).where(TokenVaultEntry.token == token))
        )
