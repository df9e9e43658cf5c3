"""INT8 quantization of a plain net: ONNX Runtime's quantizer, with torchao measured beside it.

Three schemes, all ending in an ONNX graph whose weights are stored as INT8:

* **dynamic** (``onnxruntime.quantization.quantize_dynamic``): INT8 weights; activation
  scales computed per call from the batch. The scale of a row then depends on the rows it
  is scored with, so the same applicant can get a (slightly) different PD alone and in a
  batch -- a reason not to serve it for credit decisions.
* **static** (``quantize_static``, QDQ format, per-channel symmetric INT8 weights, UINT8
  activations): activation scales fixed once from calibration rows, so a row's PD does not
  depend on its batch. The default.
* **qat**: quantization-aware training -- the linear layers become torchao's
  ``FakeQuantizedLinear`` (INT8 per-channel weights, INT8 per-token activations), are
  fine-tuned so the weights settle where rounding costs little, then go back to plain
  linears and through the static quantizer.

:func:`compare_engines` times the same net under torch (float), torchao's INT8 kernels
(``quantize_`` with ``Int8DynamicActivationInt8WeightConfig`` and
``Int8WeightOnlyConfig``) and ONNX Runtime (float, dynamic and static INT8) on the same
rows, so the choice of engine is a measurement, not a belief.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from greenscore.errors import ConfigError
from greenscore.models.compress.measure import interleaved_seconds
from greenscore.models.compress.onnx_net import export_onnx, make_session, run_session
from greenscore.models.compress.plain import PlainNet
from greenscore.models.compress.steps import NetData, fine_tune

SCHEMES = ("static", "dynamic", "qat")
BAD_SCHEME = "unknown quantization '{scheme}'; choose from: static, dynamic, qat"
#: Rows the static quantizer calibrates activation ranges on.
CALIBRATION_ROWS = 2048
CALIBRATION_BATCH = 256


@contextmanager
def _quiet_quantizer() -> Any:
    # The quantizer logs "consider pre-processing" on the root logger for every model;
    # shape inference adds nothing to a graph of plain matrix products.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _reader(data: NetData, rows: int, inputs: set[str]) -> Any:
    """ONNX Runtime calibration reader over encoded rows, in batches."""
    from onnxruntime.quantization import CalibrationDataReader

    n = min(len(data), rows)
    feeds = data.feeds()
    batches = [
        {k: v[i : i + CALIBRATION_BATCH] for k, v in feeds.items() if k in inputs}
        for i in range(0, n, CALIBRATION_BATCH)
    ]

    class Rows(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._batches, None)

    return Rows()


def graph_inputs(model: bytes) -> set[str]:
    """Names of a graph's inputs."""
    import onnx

    return {i.name for i in onnx.load_from_string(model).graph.input}


def quantize_graph(model: bytes, scheme: str, calibration: NetData | None = None) -> bytes:
    """INT8 graph of a float graph: ``dynamic`` or ``static`` (needs calibration rows).

    Raises
    ------
    ConfigError
        For an unknown scheme, or ``static`` without calibration rows.
    """
    from onnxruntime.quantization import (
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )

    if scheme not in ("static", "dynamic"):
        raise ConfigError(BAD_SCHEME.format(scheme=scheme))
    with tempfile.TemporaryDirectory() as tmp, _quiet_quantizer():
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(model)
        if scheme == "dynamic":
            quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True)
        else:
            if calibration is None or len(calibration) == 0:
                raise ConfigError("static quantization needs calibration rows")
            quantize_static(
                source,
                target,
                _reader(calibration, CALIBRATION_ROWS, graph_inputs(model)),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                weight_type=QuantType.QInt8,
                activation_type=QuantType.QUInt8,
            )
        return target.read_bytes()


def int8_weight_share(model: bytes) -> float:
    """Share of a graph's weight-table numbers (initializers of rank 2) stored in 8 bits.

    Linear weights are INT8; embedding tables are UINT8 (the quantizer treats a ``Gather``'s
    table like an activation).
    """
    import onnx

    eight_bit = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}
    graph = onnx.load_from_string(model).graph
    sizes = {"8bit": 0, "other": 0}
    for tensor in graph.initializer:
        if len(tensor.dims) != 2:
            continue
        kind = "8bit" if tensor.data_type in eight_bit else "other"
        sizes[kind] += int(np.prod(tensor.dims))
    return sizes["8bit"] / max(1, sizes["8bit"] + sizes["other"])


def qat_fine_tune(
    net: PlainNet, train: NetData, *, epochs: int = 3, lr: float = 1e-4, seed: int = 0
) -> tuple[PlainNet, list[float]]:
    """Quantization-aware fine-tuning with torchao's fake quantizers; a plain net back.

    Returns
    -------
    (net, losses) : the fine-tuned float net (plain linears again) and its epoch losses.
    """
    from torchao.quantization.qat import IntxFakeQuantizeConfig
    from torchao.quantization.qat.linear import FakeQuantizedLinear

    activations = IntxFakeQuantizeConfig(torch.int8, "per_token", is_symmetric=False)
    weights = IntxFakeQuantizeConfig(torch.int8, "per_channel", is_symmetric=True)
    model = copy.deepcopy(net)
    model.layers = nn.ModuleList(
        FakeQuantizedLinear.from_linear(layer, activations, weights) for layer in model.layers
    )
    model.head = FakeQuantizedLinear.from_linear(model.head, activations, weights)
    losses = fine_tune(model, train, epochs=epochs, lr=lr, seed=seed)
    model.layers = nn.ModuleList(cast(Any, layer).to_linear() for layer in model.layers)
    model.head = cast(Any, model.head).to_linear()
    return model.eval(), losses


def quantize_net(
    net: PlainNet,
    scheme: str,
    train: NetData,
    *,
    epochs: int = 3,
    lr: float = 1e-4,
    seed: int = 0,
) -> tuple[bytes, dict[str, Any]]:
    """An INT8 ONNX graph of ``net`` by ``scheme`` and what was done.

    Raises
    ------
    ConfigError
        For an unknown scheme.
    """
    if scheme not in SCHEMES:
        raise ConfigError(BAD_SCHEME.format(scheme=scheme))
    facts: dict[str, Any] = {"scheme": scheme, "engine": "onnxruntime"}
    if scheme == "qat":
        net, facts["qat_loss"] = qat_fine_tune(net, train, epochs=epochs, lr=lr, seed=seed)
    graph = export_onnx(net, train.num, train.cat)
    model = quantize_graph(graph, "dynamic" if scheme == "dynamic" else "static", train)
    facts["int8_weight_share"] = int8_weight_share(model)
    facts["activation_scales"] = "per call (batch-dependent)" if scheme == "dynamic" else "fixed"
    return model, facts


def compare_engines(
    net: PlainNet, rows: NetData, calibration: NetData, *, repeats: int = 15
) -> dict[str, Any]:
    """Median seconds over ``repeats`` rounds to score ``rows`` in one batch, per engine.

    Every engine runs on the same thread count (``settings.training.n_jobs``: torch's
    ``set_num_threads`` and ONNX Runtime's intra-op threads) and the engines take turns
    round after round (:func:`~greenscore.models.compress.measure.interleaved_seconds`),
    so their ratios hold on a loaded machine. The net alone is timed (encoded tensors in,
    logits out): the encoding every engine shares is left out.

    Returns
    -------
    dict
        ``seconds`` per engine (``torch_fp32``, ``torchao_int8_dynamic``,
        ``torchao_int8_weight_only``, ``onnxruntime_fp32``, ``onnxruntime_int8_dynamic``,
        ``onnxruntime_int8_static``), the ``fastest_int8`` engine and the thread count.
    """
    from greenscore.config import get_settings

    threads = get_settings().training.n_jobs
    calls: dict[str, Callable[[], Any]] = {}
    model = copy.deepcopy(net).eval()
    calls["torch_fp32"] = partial(model, num=rows.num, cat=rows.cat)
    failed: list[str] = []
    for name, config in _torchao_configs().items():
        quantized = copy.deepcopy(net).eval()
        try:
            from torchao.quantization import quantize_

            quantize_(quantized, config)
            with torch.no_grad():
                quantized(num=rows.num[:2], cat=rows.cat[:2])
            calls[name] = partial(quantized, num=rows.num, cat=rows.cat)
        except Exception as exc:  # noqa: BLE001 - an engine that fails is reported
            failed.append(name)
            logging.getLogger(__name__).warning("torchao failed: %s", exc)
    graph = export_onnx(net, rows.num, rows.cat)
    feeds = rows.feeds()
    for name, model_bytes in (
        ("onnxruntime_fp32", graph),
        ("onnxruntime_int8_dynamic", quantize_graph(graph, "dynamic")),
        ("onnxruntime_int8_static", quantize_graph(graph, "static", calibration)),
    ):
        calls[name] = partial(run_session, make_session(model_bytes, threads), feeds)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            seconds = interleaved_seconds(calls, repeats)
    finally:
        torch.set_num_threads(previous)
    seconds.update(dict.fromkeys(failed, float("nan")))
    int8 = {k: v for k, v in seconds.items() if "int8" in k and np.isfinite(v)}
    return {
        "seconds": seconds,
        "rows": len(rows),
        "threads": threads,
        "repeats": repeats,
        "fastest_int8": min(int8, key=lambda k: int8[k]),
        "method": "net only (encoded tensors in), one batch of all rows, engines "
        f"interleaved round-robin, median of {repeats} rounds, time.perf_counter",
    }


def _torchao_configs() -> dict[str, Any]:
    from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig

    return {
        "torchao_int8_dynamic": Int8DynamicActivationInt8WeightConfig(),
        "torchao_int8_weight_only": Int8WeightOnlyConfig(),
    }
