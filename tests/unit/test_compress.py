"""Compression (issue 14): pruning reaches the asked sparsity, quantized weights are INT8,
the distillation loss falls, and a compressed bundle saves and loads with identical
predictions. Small generated data, small nets: seconds each."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from sklearn.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).parent))
from serving_bundle import dataset, fit_bundle  # noqa: E402

from greenscore.config import Settings, use_settings  # noqa: E402
from greenscore.errors import ConfigError  # noqa: E402
from greenscore.models.bundle import ScoringBundle  # noqa: E402
from greenscore.models.compress import measure  # noqa: E402
from greenscore.models.compress.distillation import (  # noqa: E402
    distill_lightgbm,
    distill_mlp,
    teacher_log_odds,
)
from greenscore.models.compress.onnx_net import (  # noqa: E402
    OnnxNetClassifier,
    export_onnx,
    make_session,
    run_session,
    session_threads,
)
from greenscore.models.compress.plain import count_parameters, from_dnn  # noqa: E402
from greenscore.models.compress.pruning import (  # noqa: E402
    neuron_sparsity,
    prune_net,
    weight_sparsity,
)
from greenscore.models.compress.quantization import quantize_net  # noqa: E402
from greenscore.models.compress.steps import (  # noqa: E402
    AccuracyGate,
    NetData,
    auc_of,
    logits_of,
)
from greenscore.models.ensemble_contrib import has_exact_contributions  # noqa: E402
from greenscore.models.gbm import LightGBMCreditClassifier  # noqa: E402
from greenscore.models.torch.dnn import DNNClassifier  # noqa: E402
from greenscore.workflows.compress import CompressOptions, compress  # noqa: E402


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    home = tmp_path_factory.mktemp("compress")
    use_settings(Settings(home=home, environment="test"))
    ds = dataset(1200, seed=2)
    net = DNNClassifier(
        spec=ds.spec, hidden_units=48, hidden_layers=2, max_epochs=4, random_state=0
    )
    bundle = fit_bundle(ds, net, name="dnn")
    frame = bundle.features.transform(ds.X)
    data = NetData.of(net.encoder_, frame, ds.y)
    yield home, ds, bundle, frame, data
    use_settings(None)


def test_folding_batch_norm_keeps_the_nets_logits(setup) -> None:
    _, _, bundle, frame, data = setup
    plain = from_dnn(bundle.estimator.module_)
    np.testing.assert_allclose(
        logits_of(plain, data), bundle.estimator.decision_function(frame), atol=1e-4
    )
    assert count_parameters(plain) < count_parameters(bundle.estimator.module_)


def test_structured_pruning_reaches_the_asked_sparsity(setup) -> None:
    _, _, bundle, _, data = setup
    plain = from_dnn(bundle.estimator.module_)
    gate = AccuracyGate(auc_of(logits_of(plain, data), data), tolerance=0.99)
    result = prune_net(plain, data, data, gate, kind="structured", sparsity=0.5, steps=2, epochs=1)
    assert [layer.out_features for layer in result.net.hidden()] == [24, 12]
    assert result.sparsity == pytest.approx(0.5)
    assert neuron_sparsity(result.net, [48, 24]) == pytest.approx(0.5)
    assert count_parameters(result.net) < count_parameters(plain) / 1.8
    assert [s["kept"] for s in result.steps] == [True, True]


def test_magnitude_pruning_reaches_the_asked_sparsity_without_changing_shape(setup) -> None:
    _, _, bundle, _, data = setup
    plain = from_dnn(bundle.estimator.module_)
    assert weight_sparsity(plain) < 0.01
    gate = AccuracyGate(auc_of(logits_of(plain, data), data), tolerance=0.99)
    result = prune_net(plain, data, data, gate, kind="magnitude", sparsity=0.7, steps=3, epochs=1)
    assert weight_sparsity(result.net) == pytest.approx(0.7, abs=1e-3)
    assert count_parameters(result.net) == count_parameters(plain)  # zeros are still stored


def test_the_gate_stops_a_schedule_and_keeps_the_last_net_that_passed(setup) -> None:
    _, _, bundle, _, data = setup
    plain = from_dnn(bundle.estimator.module_)
    # No net can reach an AUC of 1 here: the first step fails, the input net comes back.
    result = prune_net(plain, data, data, AccuracyGate(1.0, 0.0), sparsity=0.5, epochs=1)
    assert result.stopped_early and result.sparsity == 0.0
    assert [layer.out_features for layer in result.net.hidden()] == [48, 24]
    assert len(result.steps) == 1 and not result.steps[0]["kept"]


def _weight_types(model: bytes) -> dict[str, int]:
    graph = onnx.load_from_string(model).graph
    return {t.name: t.data_type for t in graph.initializer if len(t.dims) == 2}


@pytest.mark.parametrize("scheme", ["static", "dynamic", "qat"])
def test_quantized_weights_are_int8(setup, scheme) -> None:
    _, _, bundle, _, data = setup
    plain = from_dnn(bundle.estimator.module_)
    model, facts = quantize_net(plain, scheme, data, epochs=1)
    types = _weight_types(model)
    linear = {n: t for n, t in types.items() if n.startswith(("layers.", "head."))}
    assert len(linear) == 3 and set(linear.values()) == {onnx.TensorProto.INT8}
    assert facts["int8_weight_share"] == 1.0
    # 8-bit weights; int32 biases, per-channel scales and the graph itself stay as they were.
    assert len(model) < len(export_onnx(plain, data.num, data.cat)) / 1.5
    logits = run_session(make_session(model), data.feeds())
    assert np.corrcoef(logits, logits_of(plain, data))[0, 1] > 0.98


def test_static_int8_scores_a_row_alike_alone_and_in_a_batch(setup) -> None:
    _, _, bundle, _, data = setup
    model, _ = quantize_net(from_dnn(bundle.estimator.module_), "static", data)
    session = make_session(model)
    batch = run_session(session, data.feeds())
    alone = [
        run_session(session, {k: v[i : i + 1] for k, v in data.feeds().items()}) for i in range(5)
    ]
    np.testing.assert_array_equal(np.concatenate(alone), batch[:5])


def test_the_distillation_loss_falls(setup) -> None:
    _, ds, bundle, frame, _ = setup
    teacher = LightGBMCreditClassifier(n_estimators=60, early_stopping_rounds=None).fit(frame, ds.y)
    z = teacher_log_odds(teacher, frame)
    student, losses = distill_mlp(frame, ds.y, z, spec=ds.spec, hidden_units=16, epochs=8)
    assert len(losses) == 8 and losses[-1] < 0.9 * losses[0]
    assert isinstance(student, DNNClassifier)
    agreement = np.corrcoef(student.decision_function(frame), z)[0, 1]
    assert agreement > 0.8


def test_a_lightgbm_student_follows_its_teacher_with_exact_contributions(setup) -> None:
    _, ds, bundle, frame, _ = setup
    teacher = LightGBMCreditClassifier(n_estimators=200, early_stopping_rounds=None)
    z = teacher_log_odds(teacher.fit(frame, ds.y), frame)
    step, facts = distill_lightgbm(frame, ds.y, z, n_estimators=80)
    assert facts["trees"] == 80
    assert has_exact_contributions(step)
    assert np.corrcoef(step.decision_function(frame), z)[0, 1] > 0.9
    values, base = step.log_odds_contributions(frame.head(20))
    np.testing.assert_allclose(values.sum(axis=1) + base, step.decision_function(frame.head(20)))


def test_a_compressed_bundle_saves_and_loads_with_identical_predictions(setup, tmp_path) -> None:
    _, ds, bundle, _, _ = setup
    options = CompressOptions(
        methods=["prune", "quantize"], out=tmp_path, tolerance=0.5, epochs=1, measure=False
    )
    result = compress(bundle, ds, options)
    assert set(result.bundles) == {"pruned", "int8", "pruned-int8"}
    assert result.chosen == "pruned-int8"
    made = result.bundles["pruned-int8"]
    loaded = ScoringBundle.load(tmp_path / "model")
    assert isinstance(loaded.estimator, OnnxNetClassifier)
    np.testing.assert_array_equal(loaded.predict_pd(ds.X), made.predict_pd(ds.X))
    info = loaded.metadata.model_extra["compression"]
    assert info["nets"][0]["int8"] and info["nets"][0]["sparsity"] == pytest.approx(0.5)
    assert (tmp_path / "compression.json").exists()
    # Timed like the net it replaces: the original's thread count, kept through saving.
    threads = CompressOptions(
        methods=["quantize"], out=tmp_path / "threads", tolerance=0.5, measure=False
    )
    bundle.estimator.set_params(n_jobs=3)
    try:
        made = compress(bundle, ds, threads).bundles["int8"].estimator
    finally:
        bundle.estimator.set_params(n_jobs=None)
    assert made.threads == 3 and session_threads(made._session()) == 3
    assert ScoringBundle.load(tmp_path / "threads" / "models" / "int8").estimator.threads == 3
    assert measure.inference_threads(loaded.estimator) == 1  # None: the settings' count


def test_a_compressed_net_scores_in_the_torch_nets_batches_alike(setup) -> None:
    _, _, bundle, _, data = setup
    model, _ = quantize_net(from_dnn(bundle.estimator.module_), "static", data)
    session = make_session(model, threads=1)
    whole = run_session(session, data.feeds())
    assert len(whole) == len(data)
    np.testing.assert_array_equal(run_session(session, data.feeds(), batch=97), whole)


def test_interleaved_timing_takes_turns_and_keeps_each_calls_median(monkeypatch) -> None:
    clock = [0.0]
    monkeypatch.setattr(measure.time, "perf_counter", lambda: clock[0])
    ran: list[str] = []
    costs = {
        "a": iter([0, 1.0, 5.0, 2.0]),
        "b": iter([0, 3.0, 3.0, 9.0]),
        "c": iter([0] + [4.0] * 3),
    }

    def call(name: str) -> None:
        ran.append(name)
        clock[0] += next(costs[name])

    calls: dict[str, Callable[[], Any]] = {name: partial(call, name) for name in "abc"}
    seconds = measure.interleaved_seconds(calls, rounds=3)
    # A warm-up call each, then three rounds, each starting one further along.
    assert ran == list("abc" + "abc" + "bca" + "cab")
    assert seconds == {"a": 2.0, "b": 3.0, "c": 4.0}


def test_pruning_a_model_without_a_net_is_refused_naming_distill(setup, tmp_path) -> None:
    _, ds, bundle, frame, _ = setup
    trees = Pipeline(
        [
            ("features", bundle.features),
            ("model", LightGBMCreditClassifier(n_estimators=10, early_stopping_rounds=None)),
        ]
    ).fit(ds.X, ds.y)
    lightgbm = ScoringBundle(name="lightgbm", spec=ds.spec, pipeline=trees)
    with pytest.raises(ConfigError, match="--method distill"):
        compress(lightgbm, ds, CompressOptions(methods=["prune"], out=tmp_path, measure=False))


def test_an_unknown_method_is_a_usage_error(capsys) -> None:
    from greenscore.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["compress", "--model", "nowhere", "--data", "nothing.csv", "--method", "shrink"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Usage: greenscore compress" in err and "--method" in err and "shrink" in err


def test_a_compressed_net_refuses_to_be_refitted_naming_the_way():
    from greenscore.errors import ModelError

    with pytest.raises(ModelError, match="retrain the original model"):
        OnnxNetClassifier().fit(np.zeros((2, 1)), [0, 1])
