"""End to end (issue 14): bundles made by ``greenscore compress`` serve through the real
``greenscore serve`` -- a pruned INT8 net (an ONNX Runtime step) with the bundle's own PDs,
and a distilled LightGBM student with exact reasons."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from service_server import Server  # noqa: E402
from serving_bundle import applicant, dataset, fit_bundle  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.data.loading import Dataset  # noqa: E402
from greenscore.explain.reason_codes import attach_reason_codes  # noqa: E402
from greenscore.models.bundle import ScoringBundle  # noqa: E402
from greenscore.models.compress.onnx_net import OnnxNetClassifier  # noqa: E402
from greenscore.models.torch.dnn import DNNClassifier  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.workflows.compress import CompressOptions, compress  # noqa: E402


@pytest.fixture(scope="module")
def compressed(tmp_path_factory):
    home = tmp_path_factory.mktemp("compressed-serve")
    use_settings(Settings(home=home, environment="test"))
    ds = dataset(1000, seed=4)
    net = DNNClassifier(
        spec=ds.spec, hidden_units=32, hidden_layers=2, max_epochs=3, random_state=0
    )
    bundle = fit_bundle(ds, net, name="dnn")
    attach_reason_codes(bundle, reference=ds.X.head(300))
    options = CompressOptions(
        methods=["prune", "quantize", "distill"],
        out=home / "out",
        tolerance=0.5,  # the pipeline is under test here, not the accuracy
        epochs=1,
        student_size=30,
        measure=False,
    )
    compress(bundle, ds, options)
    keys = {r: create_key(name=r, role=r, settings=get_settings())[1] for r in ("scorer", "admin")}
    yield home, ds, keys
    use_settings(None)


def _served(
    home: Path, folder: Path, keys: dict[str, str], ds: Dataset, rows: range
) -> tuple[list[dict], dict]:
    """Answers to applicants ``rows``, and what the admin API says is served."""
    # The training applicants, read in the graph as the bundle reads them (by default a
    # service scores every applicant as new to it: serving.training_outcomes).
    server = Server(
        home, ["--model", str(folder)], env={"GREENSCORE_SERVING__TRAINING_OUTCOMES": "visible"}
    )
    server.start(timeout=600)  # 150 s were seen at load 28 on the 2 shared cores
    try:
        with server.client(**{"X-API-Key": keys["scorer"]}) as c:
            answers = []
            for i in rows:
                r = c.post("/v1/score", json=applicant(ds, i))
                assert r.status_code == 200, r.text
                answers.append(r.json())
        with server.client(**{"X-API-Key": keys["admin"]}) as c:
            r = c.get("/v1/admin/models")
            assert r.status_code == 200, r.text
            served = r.json()["deployment"]["variants"][0]
    finally:
        server.stop()
    return answers, served


def test_a_pruned_int8_net_serves_its_own_pds(compressed) -> None:
    home, ds, keys = compressed
    folder = home / "out" / "models" / "pruned-int8"
    bundle = ScoringBundle.load(folder)
    assert isinstance(bundle.estimator, OnnxNetClassifier)
    answers, served = _served(home, folder, keys, ds, range(8))
    assert served["contributions_exact"] is False  # a net's reasons are approximate
    expected = bundle.predict_pd(ds.X.iloc[:8])
    assert not any(a["fallback"] for a in answers)
    np.testing.assert_allclose([a["probability_of_default"] for a in answers], expected, atol=1e-9)


def test_a_distilled_student_serves_with_exact_reasons(compressed) -> None:
    home, ds, keys = compressed
    folder = home / "out" / "models" / "distilled-lightgbm"
    bundle = ScoringBundle.load(folder)
    answers, served = _served(home, folder, keys, ds, range(8))
    assert served["contributions_exact"] is True
    expected = bundle.predict_pd(ds.X.iloc[:8])
    np.testing.assert_allclose([a["probability_of_default"] for a in answers], expected, atol=1e-9)
    declined = [a for a in answers if a["decision"] != "approve"]
    assert all(a["reasons_available"] and a["reason_codes"] for a in declined)
