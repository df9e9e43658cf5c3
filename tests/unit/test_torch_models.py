"""The neural credit models: shapes, gradients, masking, training, pickling, resuming, graphs."""

from __future__ import annotations

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone

from greenscore.config import Settings, use_settings
from greenscore.data.spec import DatasetSpec, Relations, SequenceGroup
from greenscore.errors import ConfigError, DataError, ModelError
from greenscore.models.torch import (
    BiLSTMClassifier,
    DNNClassifier,
    GNNClassifier,
    TCNClassifier,
)
from greenscore.models.torch.graph import label_features, relation_graph
from greenscore.models.torch.losses import FocalLoss, WeightedBCELoss
from greenscore.models.torch.training import Batch, TrainConfig, torch_runtime, train_module

FAST = {"max_epochs": 2, "random_state": 0, "n_jobs": 1}
STEPS = 4


@pytest.fixture(autouse=True)
def _settings(tmp_path):
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


def make_data(*, n: int = 240, seed: int = 0, cat: bool = True, seq: bool = True):
    """Tiny credit data: static columns, two 4-month histories (some shorter), couples."""
    rng = np.random.default_rng(seed)
    ids = np.arange(5000, 5000 + n)
    frame = pd.DataFrame(
        {"x1": rng.normal(size=n), "x2": rng.lognormal(0, 1, n)},
        index=pd.Index(ids, name="id"),
    )
    frame.loc[frame.index[::17], "x2"] = np.nan
    couple_shock = np.repeat(rng.normal(size=n // 2), 2)
    latent = frame["x1"].to_numpy() + couple_shock
    if cat:
        grade = rng.choice(["a", "b", "c"], n)
        frame["grade"] = pd.Categorical(grade)
        latent = latent + 0.8 * (grade == "a")
    groups = []
    if seq:
        start = np.where(rng.random(n) < 0.3, rng.integers(1, STEPS, n), 0)
        for name in ("dpd", "bal"):
            values = rng.normal(size=(n, STEPS)) + 0.5 * latent[:, None]
            values[np.arange(STEPS)[None, :] < start[:, None]] = np.nan
            columns = [f"{name}{t}" for t in range(STEPS)]
            frame[columns] = values
            groups.append(SequenceGroup(name=name, columns=columns))
    y = (latent + rng.logistic(size=n) * 0.5 > np.quantile(latent, 0.7)).astype(int)
    relations = pd.DataFrame({"source_id": ids[0::2], "target_id": ids[1::2]})
    spec = DatasetSpec(
        target="y",
        id_column="id",
        categorical=["grade"] if cat else [],
        sequences=groups,
        relations=Relations(path="relations.parquet"),
    )
    return frame, y, spec, relations


def build(arch: str, spec: DatasetSpec, relations: pd.DataFrame, **kw):
    kw = {**FAST, **kw}
    if arch == "dnn":
        return DNNClassifier(spec=spec, batch_size=64, **kw)
    if arch == "lstm":
        return BiLSTMClassifier(spec=spec, batch_size=64, **kw)
    if arch == "tcn":
        return TCNClassifier(spec=spec, batch_size=64, **kw)
    _, conv, graph, *labels = arch.split("-")
    return GNNClassifier(
        spec=spec,
        relations=relations if graph == "rel" else None,
        conv=conv,
        hidden_size=16,
        k_neighbors=4,
        label_features=labels == ["labels"],
        **kw,
    )


ARCHS = [
    "dnn",
    "lstm",
    "tcn",
    "gnn-gcn-rel",
    "gnn-gat-rel",
    "gnn-gcn-knn",
    "gnn-gat-knn",
    "gnn-gcn-rel-labels",
    "gnn-gat-knn-labels",
]
VARIANTS = [
    pytest.param(arch, cat, seq, id=f"{arch}-cat{int(cat)}-seq{int(seq)}")
    for arch in ARCHS
    for cat in (True, False)
    for seq in ((True, False) if arch.startswith(("dnn", "gnn")) else (True,))
]


def split(X, y):
    return X.iloc[:200], y[:200], X.iloc[200:]


def module_inputs(model, X) -> dict[str, torch.Tensor]:
    if isinstance(model, GNNClassifier):
        return model._scoring_graph(X)[0]
    return model.encoder_.transform(X).tensors()


# ---------------------------------------------------------------------- shapes
@pytest.mark.parametrize(("arch", "cat", "seq"), VARIANTS)
def test_forward_shapes_for_every_architecture_and_input(arch, cat, seq):
    X, y, spec, relations = make_data(cat=cat, seq=seq)
    X_fit, y_fit, X_new = split(X, y)
    model = build(arch, spec, relations).fit(X_fit, y_fit)
    proba = model.predict_proba(X_new)
    assert proba.shape == (40, 2) and np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert model.classes_.tolist() == [0, 1] and model.n_features_in_ == X.shape[1]
    assert model.predict(X_new).shape == (40,)
    inputs = module_inputs(model, X_new)
    with torch.no_grad():
        logits = model.module_(**inputs)
    n_nodes = len(inputs["num"])
    assert logits.shape == (n_nodes,)
    if "seq" in inputs:
        assert inputs["seq"].shape == (40, STEPS, 2) and inputs["lengths"].shape == (40,)


@pytest.mark.parametrize(
    ("arch", "options", "layer"),
    [
        ("dnn", {"activation": "gelu"}, torch.nn.GELU),
        ("tcn", {"activation": "relu6"}, torch.nn.ReLU6),
        ("lstm", {"activation": "silu", "attention": False}, torch.nn.SiLU),
    ],
)
def test_activation_and_attention_options(arch, options, layer):
    X, y, spec, relations = make_data()
    model = build(arch, spec, relations, **options).fit(X, y)
    kinds = {type(m) for m in model.module_.modules()}
    assert layer in kinds and torch.nn.ReLU not in kinds
    assert np.isfinite(model.predict_proba(X)).all()
    if arch == "lstm":
        assert model.module_.score is None
        weights = model.attention_weights(X)
        observed = weights > 0
        # No attention: every observed month weighs the same.
        expected = observed / observed.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(weights, expected, atol=1e-6)


@pytest.mark.parametrize("cls", [BiLSTMClassifier, TCNClassifier])
def test_sequence_nets_refuse_data_without_sequences(cls):
    X, y, spec, _ = make_data(seq=False)
    with pytest.raises(ConfigError, match="needs a sequence group of spec.sequences"):
        cls(spec=spec, **FAST).fit(X, y)


# ---------------------------------------------------------------------- gradients
@pytest.mark.parametrize("arch", ARCHS)
def test_every_parameter_gets_a_gradient(arch):
    X, y, spec, relations = make_data()
    X_fit, y_fit, X_new = split(X, y)
    model = build(arch, spec, relations, max_epochs=1).fit(X_fit, y_fit)
    net = model.module_.train()
    net.zero_grad()
    logits = net(**module_inputs(model, X))
    logits.float().pow(2).mean().backward()
    dead = [
        name for name, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0
    ]
    assert dead == []


# ---------------------------------------------------------------------- masking
@pytest.mark.parametrize("arch", ["lstm", "tcn"])
def test_padded_steps_change_nothing(arch):
    X, y, spec, relations = make_data()
    model = build(arch, spec, relations, max_epochs=1).fit(X, y)
    inputs = model.encoder_.transform(X).tensors()
    lengths = inputs["lengths"]
    padded = torch.arange(STEPS)[None, :] >= lengths[:, None]
    assert padded.any() and (lengths == STEPS).any()
    noisy = inputs["seq"].clone()
    noisy[padded] = torch.randn(int(padded.sum()), 2) * 100
    net = model.module_.eval()
    with torch.no_grad():
        clean_out = net(**inputs)
        noisy_out = net(**{**inputs, "seq": noisy})
        changed = inputs["seq"].clone()
        changed[~padded] += 1.0  # observed steps do matter
        changed_out = net(**{**inputs, "seq": changed})
    assert torch.equal(clean_out, noisy_out)
    assert not torch.allclose(clean_out, changed_out)


def test_attention_weights_are_calendar_aligned_and_zero_on_padding():
    X, y, spec, relations = make_data()
    model = build("lstm", spec, relations).fit(X, y)
    weights = model.attention_weights(X)
    assert weights.shape == (len(X), STEPS)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    missing = X[[f"dpd{t}" for t in range(STEPS)]].isna().to_numpy()
    assert missing.any()
    assert np.all(weights[missing] == 0) and np.all(weights[~missing] > 0)


# ---------------------------------------------------------------------- training
@pytest.mark.parametrize("arch", ["dnn", "lstm", "tcn", "gnn-gcn-rel"])
def test_one_training_step_lowers_the_loss(arch):
    X, y, spec, relations = make_data()
    model = build(arch, spec, relations, max_epochs=1, dropout=0.0).fit(X, y)
    net = model.module_.train()
    inputs = module_inputs(model, X)
    n = len(y)
    target = torch.from_numpy(y.astype(np.float32))
    select = torch.arange(len(inputs["num"]) - n, len(inputs["num"]))

    def loss() -> float:
        with torch.no_grad():
            return float(WeightedBCELoss()(net(**inputs)[select], target))

    before = loss()
    config = TrainConfig(max_epochs=1, lr=1e-3, scheduler="none", grad_clip=None, seed=0)
    train_module(
        net,
        batches=lambda g: iter([Batch(inputs=inputs, target=target, select=select)]),
        steps_per_epoch=1,
        config=config,
    )
    net.train()
    assert loss() < before


def test_training_records_history_and_stops_early():
    X, y, spec, relations = make_data()
    model = DNNClassifier(spec=spec, max_epochs=30, patience=2, batch_size=64, random_state=0)
    model.fit(X, y)
    epochs = [int(r["epoch"]) for r in model.history_]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) < 30
    assert model.best_epoch_ == len(epochs) - 2
    assert 0.5 < model.best_score_ <= 1.0


def test_fit_is_seeded_and_leaves_torch_settings_alone():
    X, y, spec, relations = make_data()
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    a = build("lstm", spec, relations).fit(X, y).predict_proba(X)
    b = build("lstm", spec, relations).fit(X, y).predict_proba(X)
    c = build("lstm", spec, relations, random_state=1).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
    with torch_runtime(seed=3, n_threads=1):
        assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()


@pytest.mark.parametrize(
    "options",
    [
        {"loss": "focal", "class_weight": "balanced", "scheduler": "cosine"},
        {"loss": "bce", "class_weight": 2.0, "scheduler": "none", "precision": "bf16"},
        {"validation_fraction": 0.0, "patience": None},
    ],
)
def test_training_options_fit(options):
    X, y, spec, relations = make_data()
    model = build("dnn", spec, relations, **options).fit(X, y)
    assert np.isfinite(model.predict_proba(X)).all() and len(model.history_) == 2


def test_losses():
    logits = torch.tensor([3.0, -3.0, 0.2, -0.1])
    target = torch.tensor([1.0, 0.0, 0.0, 1.0])
    bce = WeightedBCELoss()(logits, target)
    assert torch.allclose(FocalLoss(gamma=0.0)(logits, target), bce)
    assert FocalLoss(gamma=2.0)(logits, target) < bce
    assert WeightedBCELoss(pos_weight=3.0)(logits, target) > bce


def test_bad_parameters_and_targets_are_refused():
    X, y, spec, relations = make_data()
    with pytest.raises(ConfigError, match="DNNClassifier: The 'loss' parameter"):
        DNNClassifier(spec=spec, loss="hinge").fit(X, y)
    with pytest.raises(ConfigError, match="precision 'fp16' needs a CUDA device"):
        DNNClassifier(spec=spec, precision="fp16", device="cpu", **FAST).fit(X, y)
    with pytest.raises(DataError, match="y must hold the 0/1 default flag"):
        DNNClassifier(spec=spec).fit(X, y * 2)
    with pytest.raises(DataError, match="y holds only class 0"):
        DNNClassifier(spec=spec).fit(X, np.zeros(len(X)))
    with pytest.raises(DataError, match="X has 240 rows but y has 3"):
        DNNClassifier(spec=spec).fit(X, y[:3])
    with pytest.raises(DataError, match="expects a pandas DataFrame"):
        DNNClassifier(spec=spec).fit(X.to_numpy(), y)


def test_estimators_follow_the_sklearn_contract():
    _, _, spec, relations = make_data()
    for model in (build(a, spec, relations, lr=0.005) for a in ARCHS):
        twin = clone(model)
        assert twin.get_params()["lr"] == 0.005 and not hasattr(twin, "module_")
    with pytest.raises(Exception, match="not fitted"):
        DNNClassifier(spec=spec).predict_proba(make_data()[0])


# ---------------------------------------------------------------------- persistence
@pytest.mark.parametrize("arch", ARCHS)
def test_saved_net_reloads_with_identical_predictions(arch, tmp_path):
    X, y, spec, relations = make_data()
    X_fit, y_fit, X_new = split(X, y)
    model = build(arch, spec, relations).fit(X_fit, y_fit)
    expected = model.predict_proba(X_new)
    joblib.dump(model, tmp_path / "net.joblib")
    loaded = joblib.load(tmp_path / "net.joblib")
    assert np.array_equal(loaded.predict_proba(X_new), expected)
    again = pickle.loads(pickle.dumps(loaded))
    assert np.array_equal(again.predict_proba(X_new), expected)
    if arch == "lstm":
        assert np.array_equal(again.attention_weights(X_new), model.attention_weights(X_new))


class Interrupted(Exception):
    pass


def test_checkpointed_run_resumes_where_it_stopped(tmp_path):
    X, y, spec, relations = make_data()
    params = {"max_epochs": 4, "patience": None, "batch_size": 64, "random_state": 0}
    straight = DNNClassifier(spec=spec, **params).fit(X, y)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        DNNClassifier(spec=spec, checkpoint_dir=tmp_path, **params).fit(
            X, y, on_epoch_end=stop_after_two
        )
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["epoch"] == 2

    resumed = DNNClassifier(spec=spec, checkpoint_dir=tmp_path, **params).fit(X, y)
    assert resumed.resumed_from_ == 2
    assert [int(r["epoch"]) for r in resumed.history_] == [1, 2, 3, 4]
    assert np.array_equal(resumed.predict_proba(X), straight.predict_proba(X))

    with pytest.raises(ModelError, match="belongs to another run"):
        DNNClassifier(spec=spec, checkpoint_dir=tmp_path, **params).fit(X.iloc[:100], y[:100])


# ---------------------------------------------------------------------- graphs
def test_relation_graph_is_undirected_without_loops_or_strangers():
    relations = pd.DataFrame({"source_id": [1, 2, 3, 9, 1], "target_id": [2, 1, 3, 1, 3]})
    edges = relation_graph(relations, np.array([1, 2, 3]), source="source_id", target="target_id")
    assert sorted(map(tuple, edges.T.tolist())) == [(0, 1), (0, 2), (1, 0), (2, 0)]


def test_label_features_never_read_the_node_itself():
    edges = np.array([[0, 1, 1, 2], [1, 0, 2, 1]])
    known = np.array([1.0, 0.0, np.nan])
    feats = label_features(edges, known, 3)
    assert feats[0].tolist() == [0.0, pytest.approx(np.log(2)), 1.0]  # reads node 1 only
    assert feats[1, 0] == 1.0  # node 0 defaulted; node 2's label is unknown
    flipped = label_features(edges, np.array([0.0, 0.0, np.nan]), 3)
    assert flipped[0].tolist() == feats[0].tolist()  # own label changed, own row did not


def test_gnn_scores_new_applicants_inductively():
    X, y, spec, relations = make_data()
    X_fit, y_fit, X_new = split(X, y)
    knn = build("gnn-gcn-knn", spec, relations, max_epochs=5).fit(X_fit, y_fit)
    # kNN links reach training nodes only: a row's score ignores the rest of the batch.
    np.testing.assert_allclose(
        knn.predict_proba(X_new.iloc[:5]), knn.predict_proba(X_new)[:5], rtol=1e-5
    )
    # With relations, a new applicant reads its linked training borrower: unlink, and its
    # score moves (the graph signal is used).
    new_id = X.index[201]
    keep = X.index != new_id
    rel = build("gnn-gcn-rel", spec, relations, max_epochs=5).fit(X[keep], y[keep])
    linked = relations[(relations["source_id"] == new_id) | (relations["target_id"] == new_id)]
    assert len(linked) == 1 and set(linked.iloc[0]) - {new_id} <= set(X.index[keep])
    with_link = rel.predict_proba(X.loc[[new_id]])
    rel.set_params(relations=relations.drop(index=linked.index))
    assert not np.allclose(rel.predict_proba(X.loc[[new_id]]), with_link)


@pytest.mark.parametrize("arch", ["gnn-gcn-rel-labels", "gnn-gat-rel"])
def test_rows_no_training_borrower_reaches_score_without_the_training_graph(arch):
    """Unlinked new rows are scored in a pass over the new rows alone: the same logits as
    in a pass with the training graph (made to happen by linking one more row to it)."""
    X, y, spec, relations = make_data()
    X_fit, y_fit, X_new = split(X, y)
    inside = relations["source_id"].isin(X_fit.index) & relations["target_id"].isin(X_fit.index)
    model = build(arch, spec, relations[inside], max_epochs=3).fit(X_fit, y_fit)
    alone, n_train = model._scoring_graph(X_new)
    assert n_train == 0 and len(alone["num"]) == len(X_new)
    # New rows linked among themselves keep those links in the small pass.
    pairs = relations[~inside].head(4)
    linked = model.with_links(pairs)
    assert linked._scoring_graph(X_new)[0]["edge_index"].shape[1] > 0
    one_more = pd.DataFrame({"source_id": [X_new.index[-1]], "target_id": [X_fit.index[0]]})
    both = linked.with_links(one_more)
    assert both._scoring_graph(X_new)[1] == len(X_fit)
    np.testing.assert_allclose(
        linked.decision_function(X_new)[:-1], both.decision_function(X_new)[:-1], atol=1e-5
    )
    assert linked.decision_function(X_new)[-1] != both.decision_function(X_new)[-1]
    # A model on the training graph keeps it: the links file adds, never replaces.
    assert len(model.relations) == inside.sum() and model.with_links(pairs) is not model


def test_sampled_shap_rows_are_strangers_to_the_graph():
    """Sampled SHAP scores rows it makes up; with ids 0, 1, 2... they were attached to the
    training borrowers holding those ids. They carry ids no borrower has: a row's values
    add up to its logit scored unlinked."""
    from greenscore.explain.shap_values import AgnosticBackend

    X, y, spec, relations = make_data()
    X = X.set_axis(pd.Index(np.arange(len(X)), name="id"), axis=0)  # ids 0..n-1
    relations = relations - 5000
    X_fit, y_fit, X_new = split(X, y)
    inside = relations["source_id"].isin(X_fit.index) & relations["target_id"].isin(X_fit.index)
    model = build("gnn-gcn-rel-labels", spec, relations[inside], max_epochs=3).fit(X_fit, y_fit)
    backend = AgnosticBackend(model, X_fit.head(10), evaluations=64)
    rows = X_new.head(3)
    values, base = backend.contributions(rows)
    alone = model.decision_function(rows.set_axis(pd.Index(["a", "b", "c"]), axis=0))
    np.testing.assert_allclose(base + values.sum(axis=1), alone, atol=1e-4)


def test_gat_attention_coefficients():
    X, y, spec, relations = make_data()
    X_fit, y_fit, X_new = split(X, y)
    gat = build("gnn-gat-rel", spec, relations).fit(X_fit, y_fit)
    att = gat.attention_coefficients(X_new)
    assert {"source", "target", "weight", "layer", "source_is_new"} <= set(att.columns)
    assert set(att["target"]) == set(X_new.index)
    np.testing.assert_allclose(att.groupby("target")["weight"].sum(), 1.0, rtol=1e-5)
    both = gat.attention_coefficients(X_new, layer=None)
    assert sorted(both["layer"].unique()) == [0, 1]
    with pytest.raises(ConfigError, match="needs conv='gat'"):
        build("gnn-gcn-rel", spec, relations).fit(X_fit, y_fit).attention_coefficients(X_new)


def test_gnn_needs_unique_ids():
    X, y, spec, relations = make_data()
    X = X.set_axis(np.r_[X.index[:-1], X.index[0]], axis=0)
    with pytest.raises(DataError, match="unique applicant ids"):
        build("gnn-gcn-rel", spec, relations).fit(X, y)


@pytest.mark.parametrize("arch", ["dnn", "lstm", "tcn", "gnn-gcn-knn"])
def test_every_net_reports_each_epoch_to_on_epoch_end(arch):
    # An architecture search stops hopeless trials through this hook, whatever the net.
    X, y, spec, relations = make_data()
    seen: list[int] = []
    build(arch, spec, relations, max_epochs=3, patience=None).fit(
        X, y, on_epoch_end=lambda record: seen.append(int(record["epoch"]))
    )
    assert seen == [1, 2, 3]
