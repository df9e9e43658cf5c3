"""The one settings tree.

Read, lowest priority first, from built-in defaults, an optional YAML file (``--config`` or
``GREENSCORE_CONFIG``) and ``GREENSCORE_*`` environment variables; nested fields use a
double underscore (``GREENSCORE_SCORING__PDO=40``). ``greenscore config show`` prints the
effective tree. Each capability owns one section; add fields there, not at the top level.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from greenscore.errors import ConfigError

CONFIG_ENV = "GREENSCORE_CONFIG"
CUTOFFS_OUT_OF_ORDER = (
    "approve_below ({approve_below}) must not exceed decline_above ({decline_above})"
)
#: Environments in which GreenScore may generate its own secrets (master key, first JWT key,
#: audit pepper); anywhere else each must be configured.
GENERATING_ENVIRONMENTS = frozenset({"local", "test"})
#: Shortest ``security.jwt_secret`` accepted outside local and test use (HS256's key size).
MIN_JWT_SECRET_BYTES = 32
MISSING_SETTINGS = (
    "environment '{environment}' cannot start without: {missing} "
    "(only local and test generate secrets)"
)


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents owner-only (0700) and return it.

    Folders that already exist keep their mode; :meth:`Settings.ensure_home` tightens the
    home folder itself.
    """
    missing = []
    here = Path(path)
    while not here.exists() and here != here.parent:
        missing.append(here)
        here = here.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass  # another process made it between our check and our mkdir
    return Path(path)


def private_file(path: Path) -> Path:
    """Create ``path`` empty and owner-only (0600) if missing, else tighten it to 0600.

    For files other programs create with their own mode (SQLite databases): creating the
    file first means it is never readable by others, not even for a moment.
    """
    path = Path(path)
    private_dir(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _tighten(path, 0o600)
    return path


def _tighten(path: Path, mode: int) -> None:
    """chmod ``path`` to ``mode`` when it is ours and looser (files from older releases)."""
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and st.st_mode & 0o777 & ~mode:
            path.chmod(mode)
    except OSError:
        pass  # gone, or not ours to change: the folder's mode still protects it


class EnergySettings(BaseModel):
    """Where the machine runs, for CodeCarbon's offline carbon intensity."""

    country_iso_code: str = "GBR"
    region: str | None = None
    measure_power_secs: float = 1.0
    tracking_mode: Literal["machine", "process"] = Field(
        "machine",
        description="machine: whole-machine power; process: CPU share of this process tree",
    )


class TrackingSettings(BaseModel):
    """MLflow tracking; the URI defaults to a SQLite file in the home folder."""

    uri: str | None = None
    experiment: str = "greenscore"
    enabled: bool = True
    artifact_location: str | None = Field(
        None, description="artifact root of new experiments; default <home>/mlartifacts"
    )


class ScoringSettings(BaseModel):
    """Points scaling and decision cut-offs on the probability of default.

    ``greenscore train --approve-below/--decline-above`` store cut-offs in the bundle;
    these settings are the default when a run gives none.
    """

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0
    approve_below: float = Field(0.10, ge=0.0, le=1.0, description="PD below this is approved")
    decline_above: float = Field(
        0.30, ge=0.0, le=1.0, description="PD above this is declined; between is review"
    )
    reason_codes: int = 4

    @model_validator(mode="after")
    def _ordered_cutoffs(self) -> ScoringSettings:
        if self.approve_below > self.decline_above:
            raise ValueError(
                CUTOFFS_OUT_OF_ORDER.format(
                    approve_below=self.approve_below, decline_above=self.decline_above
                )
            )
        return self


class TrainingSettings(BaseModel):
    """Defaults for ``greenscore train``."""

    cv_folds: int = Field(
        5, ge=2, le=20, description="cross-validation folds when train is given no --cv"
    )
    tune_trials: int = 0
    # One thread: LightGBM's OpenMP threads spin and slow down badly (30x seen here) when the
    # 2 cores are shared with other work, e.g. parallel test workers or a second fold.
    n_jobs: int = 1
    scorecard_characteristics: int = Field(
        20, ge=1, description="most characteristics in a scorecard (highest IV after filters)"
    )
    max_category_levels: int = Field(
        50,
        ge=2,
        description="most levels a categorical feature may have; a column with more is "
        "refused (a spec's max_category_levels overrides this)",
    )


class PrivacySettings(BaseModel):
    """Encryption at rest, retention and differential-privacy budgets."""

    encryption_enabled: bool = False
    master_key_env: str = "GREENSCORE_MASTER_KEY"
    master_key_file: Path | None = None
    retention_days: int = 730
    dp_epsilon_budget: float = 1.0
    keyring_file: Path | None = Field(
        None, description="encrypted keyring of key-encryption keys; default HOME/keys/keyring.gsk"
    )
    pii_sample_rows: int = Field(100, description="values per column that the PII scan inspects")
    pii_min_hit_rate: float = Field(
        0.5, description="share of sampled values that must hold PII to flag a column by content"
    )
    max_suppression: float = Field(
        0.05, description="largest share of rows k-anonymisation may suppress, not generalise"
    )
    require_consent: str | None = Field(
        None,
        description="consent purpose (e.g. credit_scoring) every scored subject must have "
        "granted; scoring one without it is refused (unset: not checked)",
    )
    purge_schedule: str = Field(
        "0 3 * * *", description="cron (UTC) of 'greenscore gdpr purge --schedule'"
    )


class SecuritySettings(BaseModel):
    """Credentials for the API and the CLI's admin actions."""

    jwt_secret: SecretStr | None = None
    jwt_audience: str = "greenscore"
    jwt_issuer: str = "greenscore"
    jwt_ttl_seconds: int = 900
    api_key_ttl_days: int = 365
    totp_issuer: str = "GreenScore"
    totp_valid_window: int = Field(1, description="TOTP steps of clock drift accepted each side")
    api_key_cache_seconds: float = Field(
        5.0, description="how long a verified API key is trusted before the database is asked again"
    )
    api_key_cache_size: int = 4096
    keyring_cache_seconds: float = Field(
        5.0, description="how long the JWT signing keyring is cached before it is re-read"
    )
    audit_pepper: SecretStr | None = Field(
        None, description="HMAC key for audit subject hashes; generated and stored if unset"
    )
    totp_max_failures: int = Field(
        5, description="wrong TOTP codes in a row after which the user is locked out", ge=1
    )
    totp_backoff_seconds: float = Field(
        1.0, description="wait after the first wrong TOTP code; doubles with each further one"
    )
    totp_lockout_seconds: float = Field(
        900.0,
        description="length of a TOTP lockout, doubling with each wrong code after it "
        "(0: until an admin runs 'greenscore mfa unlock')",
    )
    mfa_token_ttl_seconds: int = Field(
        600, description="lifetime of the token 'greenscore tokens issue --user' gives an operator"
    )
    audit_durable_commits: bool = Field(
        False,
        description="wait for the disk on every audit event (SQLite synchronous=FULL, "
        "PostgreSQL synchronous_commit=on); when off an OS crash may lose the newest events "
        "but never breaks the chain",
    )


class ServingSettings(BaseModel):
    """The scoring service (``greenscore serve``)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    model: str | None = Field(
        None, description="model served when --model is not given: a folder or models:/NAME/..."
    )
    model_dirs: list[Path] = Field(
        default_factory=list,
        description="folders a reload may load signed bundles from (besides the registry); "
        "the folders of the models the service starts with are added",
    )
    fallback: str | None = Field(None, description="model that answers when the primary fails")
    ab: str | None = Field(None, description="A/B split, e.g. 'models:/m/1:0.9,models:/m/2:0.1'")
    max_batch: int = Field(500, description="most applicants in one /v1/score/batch call")
    max_body_bytes: int = 1_000_000
    # Sized to capacity: one worker decides a few hundred applicants/s (measured: see
    # greenscore/serving/ratelimit.py); one key's default is a fraction of that.
    rate_limit_per_minute: int = Field(
        3000,
        ge=1,
        description="applicants a key may have scored per minute (a batch of n counts n; "
        "every other call counts 1)",
    )
    rate_limit_burst: int = Field(
        500, ge=1, description="applicants a key may have scored at once (its bucket size)"
    )
    batch_threads: int = Field(
        2, ge=1, description="threads that score /v1/score/batch calls, all keys together"
    )
    batch_concurrency_per_key: int = Field(
        1, ge=1, description="batch calls of one key scored at a time; the rest wait their turn"
    )
    redis_url: str | None = Field(None, description="shared rate limits across workers via Redis")
    tls_cert: Path | None = None
    tls_key: Path | None = None
    metrics_token: SecretStr | None = Field(
        None,
        description="bearer token that lets a scraper read /metrics from any address "
        "(Prometheus: authorization.credentials); compared in constant time",
    )
    metrics_public: bool = Field(
        False,
        description="serve /metrics to anyone; when false, only loopback callers and "
        "holders of serving.metrics_token may read it",
    )
    header_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a connection whose request line and headers are not complete this long "
        "after it opened (or after its previous response) is closed",
    )
    body_timeout_seconds: float = Field(
        10.0,
        gt=0,
        description="a request body not received in full this long after its headers is "
        "answered 408 and its connection closed",
    )
    route_grey_band_to_review: bool = False
    training_outcomes: Literal["hidden", "visible"] = Field(
        "hidden",
        description="whether an applicant's id and the borrower links it is sent with reach "
        "the training borrowers' outcomes and places in the graph: 'hidden' scores every "
        "applicant as new to the training graph and each link as a link to a borrower the "
        "model never saw (it still counts, by kind), so no caller can learn from a score "
        "whether a named borrower defaulted; 'visible' reads them, as 'greenscore score' "
        "with a relations file does, for a service whose every caller may see the "
        "training data",
    )
    reasons: Literal["adverse", "all"] = Field(
        "adverse",
        description="which decisions carry reason codes: 'adverse' (reviews and declines, "
        "which Regulation B owes them) or 'all' (approvals too)",
    )
    refuse_out_of_range: bool = Field(
        False, description="refuse (422) inputs outside training ranges instead of clipping them"
    )
    range_margin: float = Field(
        0.0,
        description="share of the training range (max - min) a value may pass min or max by "
        "before it is flagged",
    )
    refuse_implausible: bool = Field(
        True,
        description="refuse values outside the spec's domain rules (an age of -5, a negative "
        "income): 422 naming the field, an error row in `greenscore score`; false flags "
        "them and scores them clipped to the training range",
    )
    cache_size: int = Field(1024, description="repeated identical requests remembered (0: off)")
    micro_batch_rows: int = Field(
        64, description="most queued single-applicant requests scored together"
    )
    breaker_failures: int = Field(5, description="primary failures in a row that open the circuit")
    breaker_reset_seconds: float = Field(
        30.0, description="seconds an open circuit waits before trying the primary again"
    )
    sla_window_seconds: float = Field(60.0, description="window of the latency quantile gauges")
    sla_p99_ms: float = Field(8.0, description="latency objective reported beside the p99 gauge")
    psi_bins: int = Field(10, description="equal-mass bins of training PDs for the PSI gauge")
    energy_calibration: bool = Field(
        True, description="measure each loaded model's energy per call with CodeCarbon"
    )
    lightgbm_threads: int = Field(
        1,
        description="most threads one LightGBM call may use in the service (0: no cap); "
        "starting threads costs more than it saves on a few rows",
    )
    job_worker: bool = Field(True, description="run the batch-job worker in this process")
    job_chunk_rows: int = Field(500, description="rows a job scores and saves at a time")
    job_max_records: int = Field(100_000, description="most records in one job")
    job_poll_seconds: float = 0.5
    job_lease_seconds: float = Field(
        30.0, description="a running job whose worker is silent this long is taken over"
    )
    job_input_dir: Path | None = Field(
        None, description="folder jobs may read stored files from; default HOME/inputs"
    )
    job_max_active_per_key: int = Field(
        2, ge=1, description="jobs one key may have queued or running at once (jobs' own quota)"
    )
    callback_allow_hosts: list[str] = Field(
        default_factory=list,
        description="host names or networks (CIDR) job callbacks may reach although they are "
        "not public addresses (loopback, private, link-local); empty: public addresses only",
    )
    callback_attempts: int = Field(5, description="tries of a job's callback before giving up")
    callback_backoff_seconds: float = Field(
        0.5, description="wait before the second try; doubles each time"
    )
    callback_timeout_seconds: float = 5.0


RetrainTrigger = Literal["auc_drop", "score_psi"]


def _all_retrain_triggers() -> list[RetrainTrigger]:
    return ["auc_drop", "score_psi"]


class MonitoringSettings(BaseModel):
    """Model monitoring (``greenscore monitor``): drift bands, alert thresholds, actions."""

    psi_bins: int = Field(10, ge=2, description="equal-mass reference bins of PSI and CSI")
    psi_watch: float = Field(0.1, gt=0, description="PSI from which a shift is watched")
    psi_act: float = Field(0.25, gt=0, description="PSI from which a shift needs action")
    min_window_rows: int = Field(
        50, ge=1, description="windows with fewer rows are listed but not held to the bands"
    )
    missing_rate_increase: float = Field(
        0.05, ge=0, description="rise of a column's missing share over the reference that alerts"
    )
    out_of_range_share: float = Field(
        0.01, ge=0, description="share of values outside the reference range that alerts"
    )
    unseen_share: float = Field(
        0.01, ge=0, description="share of category values never seen in the reference that alerts"
    )
    auc_drop: float = Field(
        0.05,
        ge=0,
        description="fall of a vintage's AUC below the model's baseline that alerts, when "
        "the upper end of its bootstrap interval is below the baseline too",
    )
    min_vintage_defaults: int = Field(
        10, ge=1, description="defaults and non-defaults a vintage needs before AUC is judged"
    )
    bootstrap_samples: int = Field(200, ge=10, description="resamples of each interval")
    confidence: float = Field(0.95, gt=0, lt=1, description="level of the bootstrap intervals")
    webhook_url: SecretStr | None = Field(None, description="alerts are POSTed here as JSON")
    webhook_allow_hosts: list[str] = Field(
        default_factory=list,
        description="hosts or networks (CIDR) the webhook may reach although not public",
    )
    webhook_timeout_seconds: float = 5.0
    prometheus_textfile: Path | None = Field(
        None, description="write the monitor's gauges here (node exporter textfile collector)"
    )
    retrain_on: list[RetrainTrigger] = Field(
        default_factory=_all_retrain_triggers,
        description="alerts that file a training job (score_psi: in the act band)",
    )
    challenger_alpha: float = Field(
        0.05,
        gt=0,
        lt=1,
        description="a retrained model replaces the champion only when its AUC is higher "
        "and the DeLong test's p-value is below this",
    )
    live_sample_size: int = Field(
        2000,
        ge=0,
        description="applicants the scoring service keeps per model and window, sampled "
        "uniformly, for 'greenscore monitor --from-store' (0: keep none)",
    )
    live_window: Literal["day", "week", "month"] = Field(
        "day", description="calendar window of the service's applicant samples"
    )
    live_flush_seconds: float = Field(
        60.0,
        gt=0,
        description="how often the service seals the samples of closed windows (the open "
        "one is sealed at shutdown)",
    )

    @model_validator(mode="after")
    def _ordered_bands(self) -> MonitoringSettings:
        if self.psi_watch >= self.psi_act:
            raise ValueError(f"psi_watch ({self.psi_watch}) must be below psi_act ({self.psi_act})")
        return self


class SustainabilitySettings(BaseModel):
    """Carbon intensity, carbon budgets, the ESG report and dashboard (issue 16)."""

    project: str = Field("greenscore", description="project that runs are charged to")
    team: str | None = Field(None, description="team that runs are charged to")
    intensity_provider: str = Field(
        "offline",
        description="'offline' (the shipped grid table and hourly profiles) or "
        "'package.module:Class' implementing greenscore.sustainability.intensity.IntensityProvider",
    )
    hourly_profile_file: Path | None = Field(
        None, description="CSV of measured hourly intensities (country,region,hour,g_co2e_per_kwh)"
    )
    budget_mode: Literal["warn", "refuse"] = Field(
        "warn", description="refuse: a training whose estimate would exceed a budget is refused"
    )
    alert_thresholds: list[float] = Field(
        default_factory=lambda: [0.8, 1.0], description="shares of a budget that alert once each"
    )
    prometheus_textfile: Path | None = Field(
        None, description="write the budget gauges here (node exporter textfile collector)"
    )
    offset_price_per_tonne: float = Field(
        25.0, ge=0, description="price of one tonne CO2e of offsets in the report"
    )
    currency: str = "EUR"
    metrics_url: str | None = Field(
        None, description="the scoring service's /metrics, read by the dashboard's live panel"
    )
    metrics_token: SecretStr | None = Field(None, description="bearer token for metrics_url")
    dashboard_in_api: bool = Field(
        False, description="mount the dashboard at /dashboard in the API (operator login)"
    )
    report_schedule: str = Field(
        "0 6 1 * *", description="cron line of 'greenscore report esg --schedule'"
    )


class ObservabilitySettings(BaseModel):
    """OpenTelemetry traces of the scoring service (off by default; docs/deployment.md)."""

    tracing_enabled: bool = Field(
        False, description="trace each request to the audit commit and export by OTLP"
    )
    otlp_endpoint: str | None = Field(
        None,
        description="OTLP/HTTP base URL of the collector (e.g. http://otel-collector:4318; "
        "/v1/traces is added); unset: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, "
        "OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318",
    )
    service_name: str = Field("greenscore", description="service.name of the traces")
    sample_ratio: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of traces kept where no caller's traceparent decided already",
    )


class Settings(BaseSettings):
    """The effective settings of one GreenScore process."""

    model_config = SettingsConfigDict(
        env_prefix="GREENSCORE_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Path(".greenscore")
    database_url: str | None = None
    seed: int = 42
    log_level: str = "WARNING"
    environment: str = Field("local", description="local, test or production")
    energy: EnergySettings = EnergySettings()
    tracking: TrackingSettings = TrackingSettings()
    scoring: ScoringSettings = ScoringSettings()
    training: TrainingSettings = TrainingSettings()
    privacy: PrivacySettings = PrivacySettings()
    security: SecuritySettings = SecuritySettings()
    serving: ServingSettings = ServingSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    sustainability: SustainabilitySettings = SustainabilitySettings()
    observability: ObservabilitySettings = ObservabilitySettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the YAML file, passed in by load_settings) ranks below the environment.
        return env_settings, init_settings

    @property
    def db_url(self) -> str:
        """SQLAlchemy URL: the configured one, else SQLite in the home folder."""
        return self.database_url or f"sqlite:///{(self.home / 'greenscore.db').resolve()}"

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI: the configured one, else SQLite in the home folder."""
        return self.tracking.uri or f"sqlite:///{(self.home / 'mlflow.db').resolve()}"

    @property
    def generates_secrets(self) -> bool:
        """Whether missing secrets are generated (``local`` and ``test`` environments)."""
        return self.environment in GENERATING_ENVIRONMENTS

    def ensure_home(self) -> Path:
        """Create the home folder owner-only (0700) if needed, tighten it if not, return it."""
        private_dir(self.home)
        _tighten(self.home, 0o700)
        return self.home

    def public_dict(self) -> dict[str, Any]:
        """Settings as plain data with secrets (and passwords in URLs) masked, for display."""
        data = self.model_dump(mode="json")
        for section, key in ((None, "database_url"), ("tracking", "uri"), ("serving", "redis_url")):
            holder = data if section is None else data[section]
            if holder.get(key):
                holder[key] = mask_url(holder[key])
        return data


def env_name(field: str) -> str:
    """The environment variable of a dotted settings field (``security.audit_pepper`` ->
    ``GREENSCORE_SECURITY__AUDIT_PEPPER``)."""
    return "GREENSCORE_" + "__".join(part.upper() for part in field.split("."))


def _unset(secret: SecretStr | None) -> bool:
    return secret is None or not secret.get_secret_value()


def missing_secrets(settings: Settings) -> list[str]:
    """What a process outside local and test use lacks of its required secrets, each as
    ``"field (ENV_VAR)"``; empty when nothing is missing (or secrets may be generated).

    Every secret that would otherwise be generated on first use is listed: the audit
    pepper (subject pseudonyms), the JWT signing secret (at least
    :data:`MIN_JWT_SECRET_BYTES`) and the master key that opens the keyring (dead letters,
    jobs and stored secrets are sealed under it).
    """
    if settings.generates_secrets:
        return []
    missing = []
    security = settings.security
    if _unset(security.audit_pepper):
        missing.append(f"security.audit_pepper ({env_name('security.audit_pepper')})")
    jwt = security.jwt_secret
    if jwt is None or not jwt.get_secret_value():
        missing.append(f"security.jwt_secret ({env_name('security.jwt_secret')})")
    elif len(jwt.get_secret_value().encode("utf-8")) < MIN_JWT_SECRET_BYTES:
        missing.append(
            f"security.jwt_secret of {MIN_JWT_SECRET_BYTES} bytes or more "
            f"({env_name('security.jwt_secret')})"
        )
    privacy = settings.privacy
    # The environment variable wins over the file (MasterKey.from_settings reads it first).
    if not os.environ.get(privacy.master_key_env):
        if privacy.master_key_file is None:
            missing.append(
                f"the master key ({privacy.master_key_env}, or privacy.master_key_file: "
                f"{env_name('privacy.master_key_file')})"
            )
        elif not privacy.master_key_file.is_file():
            missing.append(
                f"privacy.master_key_file, a file that exists (not {privacy.master_key_file}) "
                f"({env_name('privacy.master_key_file')})"
            )
    return missing


def require_secrets(settings: Settings) -> None:
    """Refuse to start a service without its secrets, naming every one missing at once.

    Called before a long-running process (``greenscore serve``, the app factory, the job
    worker) takes traffic: outside local and test use a secret is never generated, so one
    missing would otherwise surface on the first request that needs it, as that
    request's failure.

    Raises
    ------
    ConfigError
        One line naming each missing setting and its environment variable.
    """
    missing = missing_secrets(settings)
    if missing:
        raise ConfigError(
            MISSING_SETTINGS.format(environment=settings.environment, missing="; ".join(missing))
        )


def mask_url(url: str) -> str:
    """``url`` with the password of its user-info part replaced by ``***``, for display."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


def load_settings(config_path: Path | str | None = None) -> Settings:
    """Build settings from defaults, the YAML file (argument or ``GREENSCORE_CONFIG``) and env.

    Raises
    ------
    ConfigError
        If the file is missing or invalid, or a value has the wrong type.
    """
    path = config_path or os.environ.get(CONFIG_ENV)
    file_values = _read_yaml(Path(path)) if path else {}
    try:
        return Settings(**file_values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"invalid setting '{where}': {first['msg']}") from exc


_override: Settings | None = None


@lru_cache(maxsize=1)
def _cached() -> Settings:
    return load_settings()


def get_settings() -> Settings:
    """The process-wide settings (the ones set by :func:`use_settings`, else loaded once)."""
    return _override if _override is not None else _cached()


def use_settings(settings: Settings | None) -> None:
    """Install explicit settings for this process (the CLI's ``--config``, tests); None resets."""
    global _override
    _override = settings
    _cached.cache_clear()
