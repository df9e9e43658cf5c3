"""Personal data in synthetic rows: made up by Faker, never learnt from or copied out of the
real values.

A synthesiser never sees a PII column. Each is filled afresh, by what its name says it
holds (name, e-mail, phone, address, national id, postcode, city, date of birth), with
values from a Faker instance seeded with the run's seed; a column whose name says nothing
gets random letters and digits. Ids are new sequential numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Name fragment -> how Faker makes a value (first match wins, checked in this order).
PROVIDERS: tuple[tuple[str, Callable[..., str]], ...] = (
    ("email", lambda f: f.email()),
    ("mail", lambda f: f.email()),
    ("phone", lambda f: f.phone_number()),
    ("mobile", lambda f: f.phone_number()),
    ("address", lambda f: f.address().replace("\n", ", ")),
    ("street", lambda f: f.street_address()),
    ("ssn", lambda f: f.ssn()),
    ("national", lambda f: f.ssn()),
    ("passport", lambda f: f.passport_number()),
    ("iban", lambda f: f.iban()),
    ("account", lambda f: f.bban()),
    ("zip", lambda f: f.postcode()),
    ("postcode", lambda f: f.postcode()),
    ("city", lambda f: f.city()),
    ("birth", lambda f: f.date_of_birth(minimum_age=18, maximum_age=90).isoformat()),
    ("name", lambda f: f.name()),
)


def provider_for(column: str) -> tuple[str, Callable[..., str]]:
    """The Faker provider a column gets, by its name (``bothify`` when nothing matches)."""
    lowered = column.lower()
    for fragment, make in PROVIDERS:
        if fragment in lowered:
            return fragment, make
    return "random", lambda f: f.bothify("??######")


def fake_column(column: str, rows: int, *, seed: int) -> np.ndarray:
    """``rows`` Faker values for a PII column, reproducible from ``seed`` and the name."""
    from faker import Faker

    fake = Faker("en_US")
    # Each column its own stream: adding a PII column does not change the others' values.
    fake.seed_instance(f"{seed}:{column}")
    _, make = provider_for(column)
    return np.array([make(fake) for _ in range(rows)], dtype=object)
