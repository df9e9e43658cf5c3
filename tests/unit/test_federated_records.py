"""Typed reads of Flower record values: numbers pass, lists are refused naming the key."""

import pytest

from greenscore.errors import ModelError
from greenscore.federated.records import as_float, as_int


def test_numbers_and_their_text_are_read():
    assert as_int(3, "server-round") == 3
    assert as_int("7", "server-round") == 7
    assert as_float(2, "proximal-mu") == 2.0
    assert as_float("0.25", "proximal-mu") == 0.25


def test_a_list_is_a_malformed_message():
    with pytest.raises(ModelError, match="'num-examples' is not a number"):
        as_int([1, 2], "num-examples")
    with pytest.raises(ModelError, match="'loss' is not a number"):
        as_float(b"1", "loss")
