"""New applicants scored with their own borrower links.

A model's relational step knows the training borrowers' links; an applicant scored later
has a new id, so without its links it scores as if it had none. ``greenscore score`` reads
the relations file beside the applications (as training does) and adds those links to the
graph: a new applicant linked to a borrower who defaulted in training gets it in its
features, as the cross-validation that measured the model assumed. The service takes the
same links per applicant (the ``links`` field) and must give the same PDs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from greenscore import cli as cli_module
from greenscore.config import Settings, get_settings, use_settings
from greenscore.data.loading import Dataset
from greenscore.data.presets import load_preset
from greenscore.data.synthetic import generate
from greenscore.explain.reason_codes import ReasonCoder
from greenscore.explain.shap_values import AgnosticBackend
from greenscore.features.relational import LINKS_KEY, RelationalFeatures
from greenscore.models.bundle import ScoringBundle
from greenscore.models.calibration import CalibratedClassifier
from greenscore.models.graph_part import as_strangers
from greenscore.models.runtime import ScoringRuntime
from greenscore.models.torch import GNNClassifier
from greenscore.privacy.registry import list_datasets
from greenscore.store import database

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
sys.path.insert(0, str(Path(__file__).parent))
from serving_bundle import build_bundle, fit_bundle  # noqa: E402
from test_consumers_agree import Api  # noqa: E402

TRAIN_ROWS, NEW_ROWS = 2400, 1200


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, pd.DataFrame]:
    """A model trained on the first applicants and their links; the later applicants and
    every link that touches them written as ``greenscore generate`` lays out a folder."""
    root = tmp_path_factory.mktemp("relations")
    data = generate(TRAIN_ROWS + NEW_ROWS, seed=5)
    apps, edges = data.applications, data.relations
    last = apps["applicant_id"].iloc[TRAIN_ROWS - 1]
    old = (edges["source_id"] <= last) & (edges["target_id"] <= last)
    ds = Dataset(
        frame=apps.iloc[:TRAIN_ROWS].reset_index(drop=True),
        spec=load_preset("synthetic"),
        location="synthetic",
        sha256="test",
        relations=edges[old].reset_index(drop=True),
    )
    use_settings(Settings(home=root / "home"))
    bundle = build_bundle(ds, n_estimators=120)
    folder = bundle.save(root / "model")
    new = root / "new"
    new.mkdir()
    apps.iloc[TRAIN_ROWS:].to_parquet(new / "applications.parquet")
    edges[~old].to_parquet(new / "relations.parquet")
    yield folder, new, edges[~old]
    use_settings(None)


def _score(folder: Path, data: Path, out: Path, capsys) -> str:
    try:
        cli_module.main(["score", "-m", str(folder), "-d", str(data), "-o", str(out)])
    except SystemExit as stopped:
        assert not stopped.code, capsys.readouterr().err
    said = capsys.readouterr()
    return said.out + said.err


def test_score_reads_the_new_applicants_links_and_ranks_better(world, tmp_path, capsys) -> None:
    folder, new, links = world
    with_links = _score(folder, new, tmp_path / "with.parquet", capsys)
    assert f"; {len(links):,} borrower links read with the rows;" in with_links
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "applications.parquet").write_bytes((new / "applications.parquet").read_bytes())
    without = _score(folder, alone, tmp_path / "without.parquet", capsys)
    assert "borrower links read" not in without and "warning" not in with_links
    # Scored without them, the user is told the model reads links and none came.
    assert "warning: the model reads borrower links and none came" in without
    outcome = pd.read_parquet(new / "applications.parquet")["default"]
    scored = {name: pd.read_parquet(tmp_path / f"{name}.parquet") for name in ("with", "without")}
    auc = {k: roc_auc_score(outcome, v["probability_of_default"]) for k, v in scored.items()}
    # The links carry signal the model learnt to use: measured 0.8409 -> 0.8582 here.
    assert auc["with"] > auc["without"] + 0.005, auc
    # A linked applicant's top reasons can now name its neighbours' defaults.
    reasons = scored["with"].filter(like="_feature").stack().astype(str)
    assert reasons.str.startswith("relational_").any()
    # Without their links no new applicant has a linked borrower of known outcome: the
    # rate the step gives them is its prior, which no reason may call the linked
    # borrowers' default rate (it did, for 23 of 500 first reasons of a LightGBM).
    cited = scored["without"].filter(like="_feature").stack().astype(str)
    made_of_outcomes = ["relational_neighbour_default_rate", "relational_neighbour_defaults"]
    assert not cited.isin(made_of_outcomes).any()
    # What that prior does to the log-odds goes to the count of known linked borrowers
    # (0): contributions still add up, and the rate's are zero where nothing was known.
    runtime = ScoringRuntime(ScoringBundle.load(folder))
    coder = ReasonCoder.from_bundle(runtime.bundle, runtime=runtime)
    done = runtime.scored_frame(pd.read_parquet(alone / "applications.parquet").head(200))
    values = coder.contributions(done.scored.encoded)
    raw, base = runtime.contributions(done.scored.encoded)
    np.testing.assert_allclose(values.sum(axis=1), raw.sum(axis=1), atol=1e-9)
    at = [coder.features.index(f) for f in made_of_outcomes if f in coder.features]
    assert at and not values[:, at].any()
    assert np.abs(raw[:, [coder.model_features.index(f) for f in made_of_outcomes]]).sum() > 0


def test_every_consumer_of_the_linked_bundle_gives_the_same_pd(world, tmp_path, capsys) -> None:
    folder, new, links = world
    _score(folder, new, tmp_path / "cli.parquet", capsys)
    bundle = ScoringBundle.load(folder).with_relations(links)
    rows = pd.read_parquet(new / "applications.parquet")
    records = rows.to_dict("records")
    runtime = ScoringRuntime(bundle).score(records, rows["applicant_id"].tolist())
    pipeline = bundle.pipeline.predict_proba(bundle.model_input(rows))[:, 1]
    scored = pd.read_parquet(tmp_path / "cli.parquet")
    cli = scored["probability_of_default"].to_numpy()
    # Rows flagged outside the training range are scored with their values held to it
    # (the input rules), which the bare pipeline does not do: compare the others.
    plain = (scored["flags"] == "").to_numpy()
    assert plain.mean() > 0.9
    np.testing.assert_allclose(cli[plain], pipeline[plain], rtol=1e-9)
    np.testing.assert_allclose(runtime.probability, pipeline, rtol=1e-9)
    # The bundle on disk is untouched: its graph still lacks the new applicants.
    assert (
        not ScoringBundle.load(folder)
        .pipeline.predict_proba(bundle.model_input(rows))[:, 1]
        .tolist()
        == pipeline.tolist()
    )


def test_a_bundle_of_an_earlier_release_scores_as_before(world) -> None:
    """Its relational step kept no training outcomes: the links are not used (a warning is
    logged), and the bundle scores exactly as it did."""
    folder, new, links = world
    bundle = ScoringBundle.load(folder)
    step = next(
        s for _, s in bundle.features.steps[0][1].steps if isinstance(s, RelationalFeatures)
    )
    del step.known_, step.defaulted_
    assert bundle.with_relations(links) is bundle


def test_monitor_scores_the_current_applicants_with_their_links(world, tmp_path, capsys) -> None:
    """The monitor's mean PD of a current file is that of the model with the file's links
    (without them the new applicants look safer than they are: a false calibration gap)."""
    import json

    folder, new, links = world
    try:
        cli_module.main(
            ["monitor", "-m", str(folder), "--current", str(new), "-o", str(tmp_path / "mon")]
        )
    except SystemExit as stopped:
        assert not stopped.code, capsys.readouterr().err
    report = json.loads((tmp_path / "mon" / "monitor.json").read_text())
    rows = pd.read_parquet(new / "applications.parquet")
    bundle = ScoringBundle.load(folder)
    linked = bundle.with_relations(links).predict_pd(bundle.model_input(rows))
    alone = bundle.predict_pd(bundle.model_input(rows))
    mean_pd = report["drift"]["overall"]["score"]["mean_pd"]
    assert mean_pd == pytest.approx(float(np.mean(linked)), rel=1e-9)
    assert abs(float(np.mean(alone)) - mean_pd) > 0.005


def test_the_cluster_engine_reads_the_links_too(world, tmp_path, capsys) -> None:
    folder, new, _ = world
    _score(folder, new, tmp_path / "pandas.parquet", capsys)
    try:
        cli_module.main(
            ["score", "-m", str(folder), "-d", str(new), "-o", str(tmp_path / "parts")]
            + ["--engine", "dask", "--scheduler", "local:1"]
        )
    except SystemExit as stopped:
        assert not stopped.code, capsys.readouterr().err
    by_id = "applicant_id"
    cluster = pd.read_parquet(tmp_path / "parts").sort_values(by_id).reset_index(drop=True)
    local = pd.read_parquet(tmp_path / "pandas.parquet").sort_values(by_id).reset_index(drop=True)
    pd.testing.assert_series_equal(
        cluster["probability_of_default"], local["probability_of_default"]
    )


def _links_of(ids: list, edges: pd.DataFrame) -> list[list[dict]]:
    """Each applicant's links as the API takes them: every link of the file touching it."""
    touching: dict = {}
    for a, b, kind in edges[["source_id", "target_id", "relation"]].itertuples(index=False):
        touching.setdefault(a, []).append({"id": b, "kind": kind})
        touching.setdefault(b, []).append({"id": a, "kind": kind})
    return [touching.get(i, []) for i in ids]


def test_the_api_scores_applicants_with_their_own_links_as_score_does(
    world, tmp_path, capsys
) -> None:
    """``/v1/score``, ``/v1/score/batch`` and a job take each applicant's links (the
    ``links`` field, or a job's stored relations file); an applicant sent with every link of the relations file that touches
    it gets the PD ``greenscore score`` gives it with that file, and without them the PD
    it gives without. A link counts for its own applicant only."""
    folder, new, links = world
    _score(folder, new, tmp_path / "cli.parquet", capsys)
    cli = pd.read_parquet(tmp_path / "cli.parquet")
    rows = pd.read_parquet(new / "applications.parquet").head(300)
    records = json.loads(rows.to_json(orient="records"))
    for record, own in zip(records, _links_of(rows["applicant_id"].tolist(), links), strict=True):
        record["links"] = own
    linked = np.array([bool(r["links"]) for r in records])
    assert linked.mean() > 0.3
    expected = cli["probability_of_default"].to_numpy()[:300]
    head = tmp_path / "applications.csv"
    rows.to_csv(head, index=False)
    home = get_settings()  # the module's, which the service replaces while it runs
    # A service whose callers may see the training data reads links as score does.
    api = Api(ScoringBundle.load(folder), training_outcomes="visible")
    try:
        schema = api.client.get("/openapi.json").json()["components"]["schemas"]
        assert "links" in schema["Applicant"]["properties"]
        got = {
            "batch": api.batch(records),
            "single": api.single(records[:20]),
            "job": api.job_records(records),
            "job of files": api.job(head, relations=new / "relations.parquet"),
        }
        # Erasure reaches both stored files: the relations file by either id column.
        registered = {e.name: e for e in list_datasets(db=database(get_settings()))}
        where = f"job-file:{api.tenant}"
        assert registered[f"{where}/relations.parquet"].id_columns == ("source_id", "target_id")
        assert f"{where}/applications.csv" in registered
        for consumer, pds in got.items():
            np.testing.assert_allclose(
                pds, expected[: len(pds)], rtol=0, atol=1e-9, err_msg=consumer
            )
        # The same applicants without their links: as score gives them without the file.
        alone = api.batch([{k: v for k, v in r.items() if k != "links"} for r in records])
        differs = np.abs(alone - got["batch"]) > 1e-12
        assert differs[linked].mean() > 0.5 and not differs[~linked].any()
        # One applicant's links never reach another scored beside it: the first linked
        # applicant, alone and in a batch with a copy of it that links elsewhere.
        first = records[int(np.argmax(linked))]
        other = {**first, "links": [{"id": 1, "kind": "household"}]}
        both = api.batch([first, other])
        assert both[0] == pytest.approx(api.single([first])[0], abs=1e-12)
        assert both[1] != pytest.approx(both[0], abs=1e-6)
        # What the service would keep of it for a replay sends the links back as given.
        service = api.client.app.state.service
        item = service.item(first, actor="test")
        assert service._applicant(item)["links"] == first["links"]
        # Links that are not links are the caller's mistake, named.
        for bad, where in (
            ([{"kind": "household"}], ["body", "links", 0, "id"]),
            ([{"id": 1, "weight": 2}], ["body", "links", 0, "weight"]),
            ([{"id": i} for i in range(101)], ["body", "links"]),
        ):
            r = api.client.post("/v1/score", json={**first, "links": bad}, headers=api.key)
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == where, r.text
        r = api.client.post(
            "/v1/jobs", json={"records": records[:2], "relations_file": "x"}, headers=api.key
        )
        assert r.status_code == 422 and "'relations_file' goes with 'file'" in r.text, r.text
    finally:
        api.close()
        use_settings(home)


def test_a_graph_net_attaches_new_applicants_by_their_links(world, tmp_path, capsys) -> None:
    """The GNN attaches applicants scored later to its training graph by the links in its
    relations table, which at training held the training borrowers' only: ``score`` adds
    the relations file beside the applications (inside the calibration wrapper's bag of
    fold nets), so a linked applicant's PD moves and an unlinked one's does not."""

    folder, new, links = world
    train, step, net = _graph_net_training(folder)
    bundle = fit_bundle(train, CalibratedClassifier(net, cv=2), name="gnn")
    rows = pd.read_parquet(new / "applications.parquet")
    X = bundle.model_input(rows)
    alone = bundle.predict_pd(X)
    linked_bundle = bundle.with_relations(links)
    linked = linked_bundle.predict_pd(X)
    touched = rows["applicant_id"].isin(pd.concat([links["source_id"], links["target_id"]]))
    assert touched.mean() > 0.3
    moved = np.abs(linked - alone) > 1e-9
    assert moved[touched.to_numpy()].mean() > 0.9 and not moved[~touched.to_numpy()].any()
    # The bundle's own nets keep their training relations; the bag's nets got the links.
    bag = bundle.estimator.estimator_.estimators_
    assert all(len(n.relations) == len(step.relations) for n in bag)
    assert all(
        len(n.relations) == len(step.relations) + len(links)
        for n in linked_bundle.estimator.estimator_.estimators_
    )
    # Applicants sent with their own links (the service's 'links') get the PDs the file
    # gives them when every link goes to a training borrower: the net reads their
    # messages row by row (a link to another new applicant joins it from a file only).
    ids = rows["applicant_id"].tolist()
    own = _links_of(ids, links)
    trained = set(step.nodes_[step.known_ > 0].tolist())
    to_trained = np.array([bool(o) and all(x["id"] in trained for x in o) for o in own])
    assert to_trained.sum() > 20
    records = [
        {**r, LINKS_KEY: [(x["id"], x["kind"]) for x in o]}
        for r, o in zip(rows.to_dict("records"), own, strict=True)
    ]
    sent = ScoringRuntime(bundle).score(records, ids).probability
    # (The runtime scores values as sent; predict_pd holds them to the training range.)
    file = linked_bundle.pipeline.predict_proba(X)[:, 1]
    np.testing.assert_allclose(sent[to_trained], file[to_trained], rtol=1e-5)
    assert (np.abs(sent - alone) > 1e-9)[to_trained].all()
    # Its sampled explanations add up to the PD it serves: what an applicant's links make
    # of its log-odds goes to the link count (reasons can name them).
    frame = linked_bundle.features.transform(X)
    served = _logit(linked_bundle.estimator.predict_proba(frame)[:, 1])
    stranger = _logit(linked_bundle.estimator.predict_proba(as_strangers(frame))[:, 1])
    most = np.argsort(-np.abs(served - stranger))[:3]
    assert np.abs(served - stranger)[most].min() > 0.01
    backend = AgnosticBackend(linked_bundle.estimator, frame.iloc[:20])
    values, base = backend.contributions(frame.iloc[most])
    # (served as these rows alone: links between new applicants join from the batch)
    alone_served = _logit(linked_bundle.estimator.predict_proba(frame.iloc[most])[:, 1])
    np.testing.assert_allclose(base + values.sum(axis=1), alone_served, atol=1e-4)
    # score, reading the relations file beside the applications, gives the linked PDs
    # (of a few applicants: the net's sampled reason codes cost a graph pass per sample).
    few = tmp_path / "few"
    few.mkdir()
    rows.head(40).to_parquet(few / "applications.parquet")
    links.to_parquet(few / "relations.parquet")
    saved = bundle.save(tmp_path / "gnn")
    _score(saved, few, tmp_path / "gnn.parquet", capsys)
    scored = pd.read_parquet(tmp_path / "gnn.parquet")
    plain = (scored["flags"] == "").to_numpy()
    expected = linked_bundle.predict_pd(X.head(40))
    np.testing.assert_allclose(
        scored["probability_of_default"].to_numpy()[plain], expected[plain], rtol=1e-6
    )


def test_the_python_api_reads_the_links_as_the_cli_does(world, tmp_path, capsys) -> None:
    """``gs.score`` and ``gs.explain_applicants`` on the applications folder read the
    relations file beside them as ``greenscore score`` does (same PDs); a frame takes its
    links by ``relations=``, and without them scores unlinked."""
    import greenscore as gs

    folder, new, links = world
    _score(folder, new, tmp_path / "cli.parquet", capsys)
    cli = pd.read_parquet(tmp_path / "cli.parquet")["probability_of_default"].to_numpy()
    frame = pd.read_parquet(new / "applications.parquet")
    from_folder = gs.score(folder, new)["probability_of_default"].to_numpy()
    given = gs.score(folder, frame, relations=links)["probability_of_default"].to_numpy()
    with pytest.warns(UserWarning, match="reads borrower links and none came.*relations="):
        alone = gs.score(folder, frame)["probability_of_default"].to_numpy()
    np.testing.assert_allclose(from_folder, cli, rtol=0, atol=1e-9)
    np.testing.assert_allclose(given, cli, rtol=0, atol=1e-9)
    assert (np.abs(alone - cli) > 1e-9).mean() > 0.3
    row = int(np.argmax(np.abs(alone - cli)))  # an applicant its links move most
    report = gs.explain_applicants(
        folder, new, out=tmp_path / "explain", rows=[row], shap_rows=50, lime=False,
        counterfactuals=False,
    )  # fmt: skip
    (explained,) = report["rows"]
    assert explained["probability_of_default"] == pytest.approx(cli[row], abs=1e-9)


def test_an_ensembles_graph_net_gets_the_links_too(world) -> None:
    """``--models auto`` puts a GNN into the ensemble on related data: the links of a
    relations file, and those sent with an applicant, reach that member as well."""
    from greenscore.models.ensemble import EnsembleClassifier
    from greenscore.models.ensemble_contrib import contributions_of, raw_log_odds, reference_row
    from greenscore.models.gbm import LightGBMCreditClassifier

    folder, new, links = world
    train, _, net = _graph_net_training(folder)
    booster = LightGBMCreditClassifier(n_estimators=30, early_stopping_rounds=None, n_jobs=1)
    members = [("lightgbm", booster), ("gnn", net)]
    bundle = fit_bundle(train, EnsembleClassifier(members, method="weighted", cv=2), name="auto")
    rows = pd.read_parquet(new / "applications.parquet")
    X = bundle.features.transform(bundle.model_input(rows))
    member = bundle.estimator.members_["gnn"]
    for linked in (
        bundle.with_relations(links),
        bundle.with_row_links(
            [
                [(x["id"], x["kind"]) for x in o]
                for o in _links_of(rows["applicant_id"].tolist(), links)
            ]
        ),
    ):
        moved = linked.estimator.members_["gnn"]
        assert (
            moved is not member
            and linked.estimator.members_["lightgbm"] is bundle.estimator.members_["lightgbm"]
        )
        touched = np.abs(moved.decision_function(X) - member.decision_function(X)) > 1e-9
        assert touched.mean() > 0.2
    # The member's approximate contributions add up to the log-odds it serves, links
    # included (their part on the link count).
    linked = bundle.with_relations(links).estimator.members_["gnn"]
    rows_linked = X[touched][:5]
    parts = contributions_of(linked, rows_linked, reference=reference_row(X))
    np.testing.assert_allclose(
        parts.base + parts.values.sum(axis=1), raw_log_odds(linked, rows_linked), atol=1e-5
    )
    assert bundle.estimator.members_["gnn"] is member  # the bundle itself is untouched


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p / (1 - p))


def _graph_net_training(
    folder: Path,
) -> tuple[Dataset, RelationalFeatures, GNNClassifier]:
    """The world's training applicants with their relations (as the LightGBM bundle in
    ``folder`` was trained on them), its relational step, and a small unfitted GNN."""
    training = ScoringBundle.load(folder)
    step = next(
        s for _, s in training.features.steps[0][1].steps if isinstance(s, RelationalFeatures)
    )
    data = generate(TRAIN_ROWS + NEW_ROWS, seed=5).applications
    train = Dataset(
        frame=data.iloc[:TRAIN_ROWS].reset_index(drop=True),
        spec=training.spec,
        location="synthetic",
        sha256="test",
        relations=step.relations,
    )
    net = GNNClassifier(
        spec=training.spec, relations=step.relations, max_epochs=3, random_state=0, n_jobs=1
    )
    return train, step, net


def test_a_caller_cannot_learn_a_training_borrowers_outcome_from_a_score(world) -> None:
    """A penetration test: one applicant sent once linked to a training borrower who
    defaulted and once to one who repaid got PDs 0.35 and 0.11 (and the reason "default
    rate among linked borrowers is high"): 60 probes read 60 training outcomes. By default
    (``serving.training_outcomes: hidden``) the service scores applicants as strangers to
    the training graph: the link counts as a link, the borrower it names not at all, and
    an applicant sent under a training borrower's id is scored as new."""
    folder, new, _ = world
    bundle = ScoringBundle.load(folder)
    (step,) = bundle._relational_steps()
    known = step.known_ > 0
    defaulter = step.nodes_[np.flatnonzero(known & (step.defaulted_ > 0))[0]]
    repaid = step.nodes_[np.flatnonzero(known & (step.defaulted_ == 0))[0]]
    first = json.loads(
        pd.read_parquet(new / "applications.parquet").head(1).to_json(orient="records")
    )[0]
    probes = [
        first | {"links": [{"id": int(defaulter), "kind": "household"}]},
        first | {"links": [{"id": int(repaid), "kind": "household"}]},
        first | {"applicant_id": int(defaulter)},
        first,
    ]
    home = get_settings()
    try:
        for outcomes in ("hidden", "visible"):
            api = Api(bundle, training_outcomes=outcomes)
            try:
                bad, good, as_defaulter, as_new = api.single(probes)
            finally:
                api.close()
            if outcomes == "hidden":
                assert bad == good and as_defaulter == as_new
            else:  # what the probe read before (and still reads where callers may)
                assert bad > good + 0.01 and as_defaulter != as_new
    finally:
        use_settings(home)
