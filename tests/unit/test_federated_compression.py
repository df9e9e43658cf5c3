"""Compressed updates: smaller on the wire, decoded faithfully, nothing lost over rounds."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.common.serde import array_record_to_proto

from greenscore.errors import ConfigError
from greenscore.federated.compression import ERR_METHOD, check_method, decode, encode


def _delta(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        rng.normal(0, 0.01, (64, 32)).astype(np.float32),
        rng.normal(0, 0.01, 32).astype(np.float32),
    ]


def _size(record) -> int:
    return array_record_to_proto(record).ByteSize()


def test_none_is_lossless() -> None:
    delta = _delta(0)
    record, _ = encode(delta, method="none")
    for a, b in zip(decode(record, [d.shape for d in delta], method="none"), delta, strict=True):
        np.testing.assert_array_equal(a, b)


def test_int8_is_about_a_quarter_the_size_and_unbiased() -> None:
    delta = _delta(1)
    plain, _ = encode(delta, method="none")
    record, _ = encode(delta, method="int8", seed=3)
    assert _size(record) < 0.35 * _size(plain)  # 1 byte an entry, plus a header per array
    decoded = decode(record, [d.shape for d in delta], method="int8")
    step = (delta[0].max() - delta[0].min()) / 255
    assert np.abs(decoded[0] - delta[0]).max() <= step + 1e-7
    assert abs(float((decoded[0] - delta[0]).mean())) < step / 10  # stochastic rounding


def test_topk_keeps_the_largest_and_feeds_back_the_rest() -> None:
    shapes = [d.shape for d in _delta(0)]
    residual = None
    sent_total = [np.zeros(s, np.float32) for s in shapes]
    true_total = [np.zeros(s, np.float32) for s in shapes]
    plain, _ = encode(_delta(0), method="none")
    for round_ in range(30):
        delta = _delta(round_)
        record, residual = encode(delta, method="topk", ratio=0.1, residual=residual)
        decoded = decode(record, shapes, method="topk")
        assert np.count_nonzero(decoded[0]) <= int(np.ceil(0.1 * decoded[0].size))
        sent_total = [s + d for s, d in zip(sent_total, decoded, strict=True)]
        true_total = [t + d for t, d in zip(true_total, delta, strict=True)]
    assert _size(record) < 0.35 * _size(plain)
    # Error feedback: what was sent plus what is still held back is everything.
    for sent, held, true in zip(sent_total, residual, true_total, strict=True):
        np.testing.assert_allclose(sent + held, true, atol=1e-3)


@pytest.mark.parametrize("method", ["topk", "int8"])
def test_running_statistics_travel_exact_and_leave_no_residual(method: str) -> None:
    # A shrinking running variance: a top-k residual of it, fed back against a newer
    # global model, once pushed variances below zero (NaN scores).
    weights = _delta(0)[0]
    variance = np.linspace(0.5, 1.5, 32).astype(np.float32)
    shapes = [weights.shape, variance.shape]
    global_var = variance.copy()
    residual = None
    for round_ in range(10):
        local_var = global_var * 0.6
        delta = [_delta(round_)[0], local_var - global_var]
        record, residual = encode(
            delta, method=method, ratio=0.1, residual=residual, seed=round_, exact=[False, True]
        )
        decoded = decode(record, shapes, method=method)
        np.testing.assert_array_equal(decoded[1], delta[1])
        np.testing.assert_array_equal(residual[1], np.zeros_like(variance))
        global_var = global_var + decoded[1]
        assert (global_var > 0).all()
    assert not np.array_equal(decoded[0], delta[0])  # the weights are still compressed


def test_statistics_mask_marks_batch_norm_buffers_only() -> None:
    from torch import nn

    from greenscore.federated.dnn_local import float_keys, statistics_mask

    module = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Linear(3, 1))
    marked = dict(zip(float_keys(module), statistics_mask(module), strict=True))
    assert marked == {
        "0.weight": False,
        "0.bias": False,
        "1.weight": False,
        "1.bias": False,
        "1.running_mean": True,
        "1.running_var": True,
        "2.weight": False,
        "2.bias": False,
    }


def test_unknown_method_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        check_method("zip", 0.1)
    assert err.value.message == ERR_METHOD.format(choices="none, topk, int8", value="zip")
