"""Where a search study lives, and resuming it.

Studies are kept in an Optuna RDB storage, so a search that was stopped (its time budget
spent, the machine restarted) continues where it stopped: the next run with the same
study name loads the finished trials and adds to them. By default the storage is a SQLite
file in the GreenScore home (``<home>/search.db``); any SQLAlchemy URL works, e.g. a
shared PostgreSQL database for several workers.

A study remembers what its trials were measured on (:func:`open_study`'s ``identity``:
the data's hash, the hold-out share and seed, the families, the protected attribute, the
epoch cap); resuming it with anything else would mix objectives measured on different
hold-outs in one front, so it is refused, naming what differs. Trials left RUNNING by a
killed run are failed by Optuna's heartbeat when the study is next opened.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from greenscore.config import Settings, get_settings, mask_url
from greenscore.errors import ConfigError
from greenscore.models.search.objectives import DIRECTIONS, OBJECTIVES

SEARCH_DB = "search.db"
#: Seconds between a running trial's heartbeats, and how long one may be missed before
#: the trial counts as dead (a trial's fit never blocks its heartbeat thread that long).
HEARTBEAT_S = 30
GRACE_S = 180
MSG_OTHER_STUDY = (
    "study '{name}' in {storage} was run with {key}={old!r}, not {key}={new!r}: its trials "
    "were measured on other terms; give another --study name to start a new study"
)
MSG_STORAGE = "cannot open the search storage {storage}: {problem}"


@contextmanager
def quiet_experimental() -> Iterator[None]:
    """Silence Optuna's "experimental feature" warnings (heartbeats, grouped TPE, metric
    names, constraints): the search relies on them knowingly, a user can do nothing about
    them."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def default_storage(settings: Settings | None = None) -> str:
    """``sqlite:///<home>/search.db`` (the home folder is created if needed)."""
    settings = settings or get_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{(settings.home / SEARCH_DB).resolve()}"


def make_sampler(kind: str, *, seed: int, offset: int) -> Any:
    """The study's sampler: multi-objective TPE (default) or NSGA-II.

    ``offset`` (the trials already in the study) shifts the seed, so a resumed study does
    not replay its first run's random start-up points. TPE is the default: with the tens
    of trials a time budget affords, NSGA-II's first generation (``population_size``
    trials) is still random sampling, while TPE models the finished trials after ten; it
    also handles the conditional space (each family's own parameters) that NSGA-II
    samples independently (Optuna's docs recommend TPE or GP below 1,000 trials).
    """
    import optuna

    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=8, seed=seed + offset)
    if kind == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed + offset, multivariate=True, group=True, n_startup_trials=8
        )
    raise ConfigError(f"unknown --sampler '{kind}'; choose tpe or nsga2")


def _storage(url: str) -> Any:
    import optuna

    try:
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_S,
            grace_period=GRACE_S,
            engine_kwargs={"pool_pre_ping": True},
        )
    except Exception as exc:  # noqa: BLE001 - driver, URL and connection errors alike
        problem = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(MSG_STORAGE.format(storage=mask_url(url), problem=problem)) from exc


def open_study(
    *, storage: str, name: str, identity: dict[str, Any], sampler: str, seed: int
) -> Any:
    """Create the study, or load it to continue, after checking it was run on the same terms.

    Parameters
    ----------
    storage : SQLAlchemy URL of the RDB storage.
    name : the study's name.
    identity : what the trials are measured on; stored with a new study, compared with an
        existing one's.
    sampler : ``tpe`` or ``nsga2`` (:func:`make_sampler`).
    seed : seeds the sampler.

    Raises
    ------
    ConfigError
        If the storage cannot be opened, or the study exists with another identity.
    """
    import optuna

    with quiet_experimental():
        rdb = _storage(storage)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    existing = {s.study_name: s for s in optuna.get_all_study_summaries(rdb)}
    if name in existing:
        stored = existing[name].user_attrs.get("identity", {})
        for key, new in identity.items():
            if key in stored and stored[key] != new:
                raise ConfigError(
                    MSG_OTHER_STUDY.format(
                        name=name, storage=mask_url(storage), key=key, old=stored[key], new=new
                    )
                )
        offset = existing[name].n_trials
    else:
        offset = 0
    with quiet_experimental():
        study = optuna.create_study(
            study_name=name,
            storage=rdb,
            directions=list(DIRECTIONS),
            sampler=make_sampler(sampler, seed=seed, offset=offset),
            load_if_exists=True,
        )
        if name not in existing:
            study.set_user_attr("identity", identity)
            study.set_metric_names(list(OBJECTIVES))
    return study
