"""Request ids are unpredictable: seeing many of them tells nothing about the next one.

Every response shows its id in ``X-Request-ID``, unauthenticated ones included. Ids drawn
from a Mersenne Twister (``random.Random``) gave the generator away: 624 outputs of 32
bits (156 ids of 128 bits) rebuild its state, and with it every later id.
"""

from __future__ import annotations

import random
import re

from greenscore.serving.service import new_request_id

_MASK = 0xFFFFFFFF


def _untemper(y: int) -> int:
    """Invert the Mersenne Twister's output tempering of one 32-bit word."""
    y ^= y >> 18
    y ^= (y << 15) & 0xEFC60000
    t = y
    for _ in range(5):
        t = y ^ ((t << 7) & 0x9D2C5680)
    y = t & _MASK
    t = y
    for _ in range(3):
        t = y ^ (t >> 11)
    return t & _MASK


def predict_next(ids: list[str]) -> str:
    """The id after 156 observed ones, if they came from ``random.Random.getrandbits(128)``."""
    words = []
    for text in ids:
        value = int(text, 16)
        words += [(value >> (32 * k)) & _MASK for k in range(4)]  # low word drawn first
    clone = random.Random()
    clone.setstate((3, tuple([_untemper(w) for w in words[-624:]] + [624]), None))
    return f"{clone.getrandbits(128):032x}"


def test_the_predictor_breaks_a_mersenne_twister_id_generator() -> None:
    # The attack works on the generator the service used before: the test below can fail.
    twister = random.Random(2026)
    seen = [f"{twister.getrandbits(128):032x}" for _ in range(156)]
    assert predict_next(seen) == f"{twister.getrandbits(128):032x}"


def test_request_ids_cannot_be_predicted_from_earlier_ones() -> None:
    seen = [new_request_id() for _ in range(156)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in seen) and len(set(seen)) == 156
    assert predict_next(seen) != new_request_id()
