"""The HTTP API reference page, generated from the scoring service's OpenAPI document.

The service's request schema is built from the model it serves, so the document is taken
from an app serving a small LightGBM fitted on generated data (a few seconds): the paths,
methods, parameters and responses are the service's own, the applicant fields are those of
the synthetic preset.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

ROWS = 300


def _example_bundle() -> Any:
    from sklearn.pipeline import Pipeline

    from greenscore.data.presets import load_preset
    from greenscore.data.synthetic import generate
    from greenscore.explain.reason_codes import attach_reason_codes
    from greenscore.features.pipeline import build_feature_pipeline
    from greenscore.models.bundle import ScoringBundle
    from greenscore.models.gbm import LightGBMCreditClassifier

    data = generate(ROWS, seed=1)
    spec = load_preset("synthetic")
    frame = data.applications
    X = frame.drop(columns=[spec.target])  # noqa: N806
    y = frame[spec.target].to_numpy()
    pipe = Pipeline(
        [
            ("features", build_feature_pipeline(spec, relations=data.relations)),
            ("model", LightGBMCreditClassifier(n_estimators=20, random_state=0)),
        ]
    )
    pipe.fit(X, y)
    bundle = ScoringBundle(name="lightgbm", spec=spec, pipeline=pipe)
    attach_reason_codes(bundle, X, y)
    return bundle


def openapi_document() -> dict[str, Any]:
    """The scoring service's OpenAPI document (a throw-away home, a small example model)."""
    from greenscore.config import Settings, use_settings
    from greenscore.serving.app import create_app
    from greenscore.serving.model_store import ModelStore

    bundle = _example_bundle()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), environment="test")
        settings.serving.job_worker = False
        settings.serving.energy_calibration = False
        use_settings(settings)
        try:
            store = ModelStore(settings.serving, loader=lambda _uri: bundle)
            store.load("example")
            return create_app(settings, store=store).openapi()
        finally:
            use_settings(None)


def _schema_name(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items', {}))}"
    return str(schema.get("type", "object"))


def _cell(text: Any) -> str:
    return str(text or "").replace("|", "\\|").replace("\n", " ")


def render_openapi(document: dict[str, Any]) -> str:
    """Markdown: one section per path and method with parameters, body and responses."""
    info = document.get("info", {})
    lines = [
        "# HTTP API reference",
        "",
        f"{info.get('title', 'API')} {info.get('version', '')}: generated from the service's "
        "OpenAPI document when the site is built; a running service serves the same at "
        "`/openapi.json`, with Swagger UI at `/docs`. The full document: "
        "[openapi.json](openapi.json).",
        "",
    ]
    for path, methods in document.get("paths", {}).items():
        for method, op in methods.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            lines += [f"## `{method.upper()} {path}`", ""]
            if op.get("summary"):
                lines += [f"**{_cell(op['summary'])}**", ""]
            if op.get("description"):
                lines += [op["description"].strip(), ""]
            params = op.get("parameters", [])
            if params:
                lines += [
                    "| parameter | in | required | schema | description |",
                    "| --- | --- | --- | --- | --- |",
                ]
                lines += [
                    f"| `{p['name']}` | {p.get('in')} | {p.get('required', False)} | "
                    f"{_schema_name(p.get('schema', {}))} | {_cell(p.get('description'))} |"
                    for p in params
                ]
                lines.append("")
            body = op.get("requestBody", {}).get("content", {})
            for media, content in body.items():
                lines += [
                    f"Request body ({media}): `{_schema_name(content.get('schema', {}))}`",
                    "",
                ]
            responses = op.get("responses", {})
            if responses:
                lines += ["| status | description |", "| --- | --- |"]
                lines += [
                    f"| {code} | {_cell(r.get('description'))} |" for code, r in responses.items()
                ]
                lines.append("")
    schemas = document.get("components", {}).get("schemas", {})
    if schemas:
        lines += ["## Schemas", ""]
        for name, schema in schemas.items():
            lines += [f"### `{name}`", ""]
            props = schema.get("properties", {})
            required = set(schema.get("required", []))
            if props:
                lines += ["| field | type | required | description |", "| --- | --- | --- | --- |"]
                lines += [
                    f"| `{k}` | {_schema_name(v)} | {k in required} | {_cell(v.get('description'))} |"
                    for k, v in props.items()
                ]
                lines.append("")
    return "\n".join(lines)


def openapi_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)
