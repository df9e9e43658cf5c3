"""A deployment: the variants a service answers with (A/B split, sticky by applicant) and a fallback.

A :class:`Deployment` is an immutable set of variants (each a loaded model with a weight
and its own circuit breaker) plus an optional fallback model. Applicants are assigned to
a variant by a hash of their id, so the same applicant always meets the same model while
the split stands (sticky assignment).
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from greenscore.errors import ConfigError
from greenscore.serving.resilience import CircuitBreaker
from greenscore.serving.served_model import ServedModel

BAD_SPLIT = "cannot read A/B split '{text}': expected MODEL:WEIGHT,MODEL:WEIGHT with weights > 0"
BAD_WEIGHT = (
    "cannot read A/B split '{text}': the weight '{weight}' of {uri} must be a finite number "
    "> 0 in decimal digits"
)
# float() also reads "1_0", full-width digits, "inf" and "nan": not weights an admin means.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
WEIGHTS_OVERFLOW = (
    "cannot read A/B split '{text}': the weights add up to more than a float holds; "
    "use smaller ones (only their ratio counts)"
)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B split (a single model is one variant of weight 1)."""

    label: str
    weight: float
    model: ServedModel
    breaker: CircuitBreaker


@dataclass(frozen=True)
class Deployment:
    """An immutable set of variants and a fallback, with a generation number."""

    generation: int
    variants: tuple[Variant, ...]
    fallback: ServedModel | None
    loaded_at: str = field(default_factory=_now)

    @property
    def primary(self) -> Variant:
        """The first variant (the only one without an A/B split)."""
        return self.variants[0]

    def choose(self, key: str | None) -> Variant:
        """The variant of an applicant: sticky by a hash of ``key`` (random when None)."""
        if len(self.variants) == 1:
            return self.variants[0]
        if key is None:
            share = random.random()  # no id to stick to
        else:
            digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
            share = int.from_bytes(digest, "big") / 2.0**64
        point = share * sum(v.weight for v in self.variants)
        for variant in self.variants:
            point -= variant.weight
            if point < 0:
                return variant
        return self.variants[-1]

    def info(self) -> dict[str, Any]:
        """What is served, for the admin API."""
        return {
            "generation": self.generation,
            "loaded_at": self.loaded_at,
            "variants": [
                {
                    "label": v.label,
                    "weight": v.weight,
                    "circuit": v.breaker.state,
                    **v.model.info(),
                }
                for v in self.variants
            ],
            "fallback": self.fallback.info() if self.fallback is not None else None,
        }


def parse_split(text: str) -> list[tuple[str, float]]:
    """``"M1:0.9,M2:0.1"`` as ``[("M1", 0.9), ("M2", 0.1)]`` (the last ``:`` splits).

    Weights are relative: an arm's share is its weight over their sum (0.5 and 0.7 split
    5:7), so they need not add up to 1.

    Raises
    ------
    ConfigError
        If an item has no weight, a weight is not a finite positive number, or the
        weights' sum is not finite.
    """
    out = []
    for item in (p.strip() for p in text.split(",")):
        uri, sep, weight = item.rpartition(":")
        weight = weight.strip()
        try:
            value = float(weight)
        except ValueError:
            raise ConfigError(BAD_SPLIT.format(text=text)) from None
        if not sep or not uri:
            raise ConfigError(BAD_SPLIT.format(text=text))
        # "inf" passes "> 0", and NaN fails every comparison: both would skew choose().
        if not (_DECIMAL.fullmatch(weight) and math.isfinite(value) and value > 0):
            raise ConfigError(BAD_WEIGHT.format(text=text, weight=weight, uri=uri))
        out.append((uri, value))
    if not out:
        raise ConfigError(BAD_SPLIT.format(text=text))
    # Two weights of 1e308 add up to inf, and every share of inf sends all to the last arm.
    if not math.isfinite(sum(v for _, v in out)):
        raise ConfigError(WEIGHTS_OVERFLOW.format(text=text))
    return out
