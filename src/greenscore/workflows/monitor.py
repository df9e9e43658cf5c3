"""``greenscore monitor``: drift, data quality and performance of a model, alerts and actions.

Ties the monitoring pieces to their inputs. The model is a bundle folder or a registry
URI. The reference is a file read with the model's spec and scored by the model, or, when
no file is given, what the bundle stores (training ranges and levels, out-of-fold PD
quantiles). The current data is a file (its rows and the model's PDs on them; windows by
the spec's time column) or the prediction store: the applicants the service sampled per
window (:mod:`greenscore.monitoring.live`: their monitored columns and PDs), or, where it
sampled none, the PDs it gave by decision time; and the outcomes loaded against those
decisions for performance by vintage.

Then alerts go to the log, the webhook and Prometheus, the retraining trigger may file a
training job, and ``monitor.json`` and ``monitor.html`` are written. The webhook is sent
through a function the caller passes in (the command line binds the service's SSRF-safe
outbound client), so this workflow opens no connection of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import Settings
from greenscore.errors import ConfigError, DataError
from greenscore.logging import get_logger
from greenscore.models.bundle import ScoringBundle
from greenscore.monitoring.alerts import (
    LogSink,
    PrometheusSink,
    Sink,
    WebhookSink,
    dispatch,
    drift_alerts,
    performance_alerts,
)
from greenscore.monitoring.drift import quantile_bins
from greenscore.monitoring.live import load_samples
from greenscore.monitoring.monitor import drift_report
from greenscore.monitoring.performance import performance_by_vintage
from greenscore.monitoring.reference import (
    Reference,
    reference_from_frame,
    reference_from_metadata,
)
from greenscore.monitoring.report import write_report
from greenscore.monitoring.retrain import request_retraining
from greenscore.monitoring.windows import parse_times, split_windows

log = get_logger(__name__)

ONE_SOURCE = "give exactly one of --current and --from-store"
NO_TIME_COLUMN = (
    "--window needs the spec's time_column in the current data; spec '{spec}' has {column}"
)
NO_DECISIONS = "the prediction store holds no decisions of model '{name}'"
NO_SAMPLES = (
    "not monitored from the store: the service has sealed no sample of applicants for this "
    "model (monitoring.live_sample_size), only its PDs are"
)
#: Calibration bands of the performance report: PD quintiles of the model's training PDs.
CALIBRATION_BANDS = 5


@dataclass
class MonitorRequest:
    """What ``greenscore monitor`` was asked to do."""

    model: str
    out: Path
    reference: str | None = None
    current: str | None = None
    from_store: bool = False
    window: str | None = None
    retrain: bool = True


def recorded_name(bundle: ScoringBundle) -> str:
    """The model name the service records with each decision (registry name, else bundle's)."""
    return bundle.model_name


def _scores(bundle: ScoringBundle, frame: pd.DataFrame) -> np.ndarray:
    """The model's PDs on raw rows, by the same path every consumer of a bundle uses."""
    return bundle.predict_pd(bundle.model_input(frame))


def _reference(bundle: ScoringBundle, location: str | None, settings: Settings) -> Reference:
    from greenscore.data.loading import load_dataset

    bins = settings.monitoring.psi_bins
    if location is None:
        return reference_from_metadata(bundle.metadata.to_dict(), bundle.spec, n_bins=bins)
    dataset = load_dataset(location, spec=bundle.spec)
    frame = dataset.frame
    return reference_from_frame(
        frame,
        bundle.spec,
        # The applicants' own links (a relations file beside them) reach the relational
        # features, as when `greenscore score` scores them.
        scores=_scores(bundle.with_relations(dataset.relations), frame),
        n_bins=bins,
        source=f"file:{location}",
        seed=settings.seed,
    )


def _window_labels(times: pd.Series, window: str) -> np.ndarray:
    """Each row's window label (``undated`` for a row without a time)."""
    labels = np.full(len(times), "undated", dtype=object)
    for piece in split_windows(times.reset_index(drop=True), window):
        labels[piece.rows] = piece.label
    return labels


def _band_edges(bundle: ScoringBundle) -> np.ndarray | None:
    quantiles = bundle.metadata.training_pd
    if not quantiles:
        return None
    return np.asarray(quantile_bins(quantiles, CALIBRATION_BANDS).edges)


def _baseline_auc(bundle: ScoringBundle) -> float | None:
    value = bundle.metadata.metrics.get("auc")
    return float(value) if value is not None else None


def _from_file(
    bundle: ScoringBundle, request: MonitorRequest, reference: Reference, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from greenscore.data.loading import encode_target, load_dataset

    spec = bundle.spec
    assert request.current is not None
    current = load_dataset(request.current, spec=spec)
    frame = current.frame
    reference.check_columns(list(frame.columns), ignore=[spec.target])
    times = None
    if request.window is not None:
        if not spec.time_column or spec.time_column not in frame.columns:
            raise ConfigError(
                NO_TIME_COLUMN.format(spec=spec.name, column=spec.time_column or "none")
            )
        times = parse_times(frame[spec.time_column], column=spec.time_column)
    scores = _scores(bundle.with_relations(current.relations), frame)
    drift = drift_report(
        reference,
        frame,
        settings=settings.monitoring,
        scores=scores,
        times=times,
        window=request.window,
    )
    performance = None
    if spec.target in frame.columns and frame[spec.target].notna().all():
        y = encode_target(frame[spec.target], spec)
        if 0 < y.sum() < len(y):
            labels = (
                _window_labels(times, request.window)
                if times is not None and request.window is not None
                else np.full(len(y), "all", dtype=object)
            )
            performance = performance_by_vintage(
                y,
                scores,
                labels,
                settings=settings.monitoring,
                baseline_auc=_baseline_auc(bundle),
                band_edges=_band_edges(bundle),
                seed=settings.seed,
            )
    return drift, performance


def _from_store(
    bundle: ScoringBundle, request: MonitorRequest, reference: Reference, settings: Settings
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    from greenscore.store import database
    from greenscore.store.outcomes import outcome_rows
    from greenscore.store.prediction_reads import scored_probabilities

    name = recorded_name(bundle)
    db = database(settings)
    samples = load_samples(name, window=request.window, db=db, seed=settings.seed)
    if samples is not None:
        drift = drift_report(
            reference,
            samples.frame,
            settings=settings.monitoring,
            scores=samples.scores,
            times=samples.times,
            window=request.window,
        )
        drift["sample"] = {
            "rows": len(samples.scores),
            "decisions": samples.decisions,
            "units": samples.units,
        }
    else:
        times, probabilities = scored_probabilities(model_name=name, db=db)
        if not probabilities:
            raise DataError(NO_DECISIONS.format(name=name))
        moments = pd.Series(pd.to_datetime(times, utc=True)).dt.tz_localize(None)
        drift = drift_report(
            reference,
            None,
            settings=settings.monitoring,
            scores=np.asarray(probabilities),
            times=moments,
            window=request.window,
        )
        drift["features"] = NO_SAMPLES
    outcomes = outcome_rows(model_name=name, db=db)
    performance = None
    if outcomes:
        y = np.array([int(r["defaulted"]) for r in outcomes])
        if 0 < y.sum() < len(y):
            performance = performance_by_vintage(
                y,
                np.array([r["probability"] for r in outcomes]),
                np.array([r["vintage"] for r in outcomes]),
                settings=settings.monitoring,
                baseline_auc=_baseline_auc(bundle),
                band_edges=_band_edges(bundle),
                seed=settings.seed,
            )
    return drift, performance


def run_monitor(
    request: MonitorRequest,
    *,
    settings: Settings,
    bundle: ScoringBundle,
    post_webhook: Callable[[dict[str, Any]], int] | None = None,
    actor: str = "monitor",
) -> dict[str, Any]:
    """Monitor one model and write its report into ``request.out``.

    Parameters
    ----------
    request : MonitorRequest
    settings : Settings
    bundle : ScoringBundle
        The model ``request.model`` names, already loaded.
    post_webhook : callable, optional
        Sends the alerts document to ``monitoring.webhook_url`` (None: no webhook).
    actor : str
        Who runs the monitor (recorded with a retraining request).

    Returns
    -------
    dict
        The report as written to ``monitor.json``, plus ``files``.

    Raises
    ------
    ConfigError
        If neither or both of a current file and the store are given, or a window is
        asked of data without a time column.
    DataError
        If the current file's columns differ from the reference's (naming them), or the
        store holds no decisions of the model.
    """
    if (request.current is None) == (not request.from_store):
        raise ConfigError(ONE_SOURCE)
    reference = _reference(bundle, request.reference, settings)
    if request.from_store:
        drift, performance = _from_store(bundle, request, reference, settings)
        current = "prediction store"
    else:
        drift, performance = _from_file(bundle, request, reference, settings)
        current = str(request.current)
    alerts = drift_alerts(drift, settings=settings.monitoring)
    if performance is not None:
        alerts += performance_alerts(performance)
    prometheus = PrometheusSink()
    prometheus.observe(drift, performance)
    sinks: list[Sink] = [LogSink(), prometheus]
    if post_webhook is not None:
        sinks.append(WebhookSink(post_webhook))
    context = {"model": request.model, "current": current}
    deliveries = dispatch(alerts, sinks, context)
    if settings.monitoring.prometheus_textfile is not None:
        prometheus.write(settings.monitoring.prometheus_textfile)
    retraining = (
        request_retraining(model=request.model, alerts=alerts, settings=settings, actor=actor)
        if request.retrain
        else None
    )
    report: dict[str, Any] = {
        "model": {"name": recorded_name(bundle), "uri": request.model},
        "run_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "current": current,
        "window": request.window,
        "alerts": [a.to_dict() for a in alerts],
        "deliveries": deliveries,
        "drift": drift,
        "performance": performance,
        "retraining": retraining,
        "settings": settings.monitoring.model_dump(mode="json"),
    }
    files = write_report(report, request.out)
    report["files"] = {k: str(v) for k, v in files.items()}
    return report
