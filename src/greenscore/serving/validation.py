"""The API's second line on inputs: one applicant cleaned and held to the model's input rules.

Schema validation (types, required fields, finite numbers) happens in the request model;
this applies what every other consumer of the model applies to a file
(:mod:`greenscore.data.input_rules`), to one applicant: quotes stripped and numeric text
read as the spec says, values outside the spec's domain rules refused (422 naming the
field; flagged and clipped with ``serving.refuse_implausible`` off), numbers beyond the
training range clipped (flagged beyond ``serving.range_margin``; refused with
``serving.refuse_out_of_range``), categories matched to the training levels regardless
of letter case (flagged as normalised) or flagged as unknown and scored as missing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from greenscore.data.input_rules import OUT_OF_RANGE, SENT_KEY, Flag, InputRules
from greenscore.data.spec import DatasetSpec
from greenscore.features.relational import LINKS_KEY

__all__ = ["OUT_OF_RANGE", "Flag", "InputGuard", "input_hash"]


class InputGuard:
    """Checks one model's inputs against its spec's domain and its training ranges and levels.

    Parameters
    ----------
    ranges : mapping
        ``metadata["training_ranges"]``: ``{column: {min, max, ...} | {levels: [...]}}``.
    columns : list of str
        The model's input columns (others in ``ranges`` are ignored).
    margin : float
        Share of ``max - min`` a value may exceed the range by before it is flagged.
    refuse : bool
        Refuse out-of-range values instead of clipping them.
    spec : DatasetSpec, optional
        Domain rules, quote stripping and missing-value texts (none apply without it).
    refuse_implausible : bool
        Refuse values outside the domain rules instead of flagging and clipping them.
    """

    def __init__(
        self,
        ranges: Mapping[str, Any],
        columns: list[str],
        *,
        margin: float = 0.0,
        refuse: bool = False,
        spec: DatasetSpec | None = None,
        refuse_implausible: bool = True,
    ) -> None:
        self.refuse = refuse
        self.refuse_implausible = refuse_implausible
        self.rules = InputRules(ranges, columns, spec=spec, margin=margin)

    def check(self, row: dict[str, Any], payload: Mapping[str, Any] | None = None) -> list[Flag]:
        """Clean, flag and repair (in place) one applicant's model inputs.

        ``payload``, the whole record sent, lets implausible values of fields the model
        does not read (an age kept out as protected) be flagged too. The values sent for
        fields that were changed or not recognised are kept in ``row[SENT_KEY]`` for the
        reason wording.

        Raises
        ------
        DataError
            Naming the field: a value that is not a number, an implausible value, or (when
            the guard refuses them) one outside the training range.
        """
        return self.rules.check_row(
            row, others=payload, refuse_domain=self.refuse_implausible, refuse_range=self.refuse
        )


def input_hash(row: Mapping[str, Any], columns: list[str], applicant_id: Any) -> str:
    """SHA-256 of what the model saw: the input fields (and the id and the applicant's
    own links, which relational features read), plus the values sent for fields that were
    changed, so that two requests share a cached answer only when their reasons would read
    the same."""
    payload: dict[str, Any] = {"id": applicant_id, "fields": {c: row.get(c) for c in columns}}
    if row.get(SENT_KEY):
        payload["sent"] = row[SENT_KEY]
    if row.get(LINKS_KEY):
        payload["links"] = row[LINKS_KEY]
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
