"""Privacy: encryption at rest and keys, PII detection, anonymisation, differential privacy, GDPR.

Modules (one idea each):

* ``keys`` — master key, versioned keyring of KEKs (rotate, retire).
* ``crypto`` — AES-256-GCM envelope encryption of bytes and files; rewrap.
* ``at_rest`` — stored tables and model bundles, encrypted when the settings say so.
* ``backup`` — encrypted, checksummed backups of the home folder.
* ``pii`` — column classification and free-text PII detection (offline Presidio).
* ``hierarchies``, ``tokens``, ``anonymize`` — generalisation, masking/tokenisation,
  k-anonymity with l-diversity and information loss.
* ``dp``, ``budget`` — differentially private statistics and the per-dataset epsilon ledger.
* ``consent``, ``lineage``, ``registry``, ``retention``, ``gdpr`` — GDPR records and erasure;
  ``purge_schedule`` — the retention purge on a cron line.
* ``membership`` — the membership-inference attack that measures what a model leaks.

Names are re-exported lazily so ``import greenscore.privacy`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Keyring": "keys",
    "MasterKey": "keys",
    "encrypt_bytes": "crypto",
    "decrypt_bytes": "crypto",
    "encrypt_file": "crypto",
    "decrypt_file": "crypto",
    "rewrap_file": "crypto",
    "read_table": "at_rest",
    "write_table": "at_rest",
    "create_backup": "backup",
    "restore_backup": "backup",
    "scan_columns": "pii",
    "find_pii_in_text": "pii",
    "k_anonymize": "anonymize",
    "anonymize_frame": "anonymize",
    "mask": "tokens",
    "tokenize": "tokens",
    "detokenize": "tokens",
    "release_count": "dp",
    "release_mean": "dp",
    "release_histogram": "dp",
    "erase": "gdpr",
    "purge": "retention",
    "grant_consent": "consent",
    "revoke_consent": "consent",
    "record_lineage": "lineage",
    "register_dataset": "registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'greenscore.privacy' has no attribute '{name}'")
    return getattr(import_module(f"greenscore.privacy.{module}"), name)
