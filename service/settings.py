"""The settings tree: environment variables, an optional ``.env`` and profile, loaded once by the CLI.

Each section is its own ``BaseSettings`` with the prefix users type (``KAFKA_``, ``TOPIC_``,
``BATCH_``, ...); ``Settings`` groups them. Nothing imports a global instance: ``load_settings()`` is
called once at start-up and the frozen result is passed down.

Precedence, highest first: explicit values (the CLI's flags), environment variables, ``.env``, the
active profile (``service.profiles``), the defaults here.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import socket
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from service import secretfiles
from service.errors import ConfigError
from service.pricing import read_price_file
from service.profiles import Profile, as_field_values

CommaList = Annotated[tuple[str, ...], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


# The profile's values for the sections being built, by section class. pydantic-settings builds its
# sources per class, so a per-call source reaches them through this, set only inside load_settings().
_PROFILE_VALUES: ContextVar[Mapping[type[BaseSettings], dict[str, Any]] | None] = ContextVar(
    "profile", default=None
)


class _Section(BaseSettings):
    model_config = SettingsConfigDict(frozen=True, extra="ignore", env_file=".env", env_file_encoding="utf-8")

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: Any) -> Any:
        """``X_FILE`` fills the secret ``X`` (see service/secretfiles.py) before any other check."""
        secrets = [
            name
            for name in cls.model_fields
            if secretfiles.file_field(name) in cls.model_fields
            and "SecretStr" in str(cls.model_fields[name].annotation)
        ]
        return secretfiles.resolve(data, secrets, lambda field: env_name(cls, field))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        values = _PROFILE_VALUES.get() or {}
        profile = InitSettingsSource(settings_cls, dict(values.get(settings_cls, {})))
        return init_settings, env_settings, dotenv_settings, profile, file_secret_settings


class KafkaSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    group_id: str = Field("claude-kafka", description="Consumer group shared by all replicas.")
    client_id: str = Field("claude-kafka", description="Client id reported to the broker.")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER", "GSSAPI"] | None = (
        Field(
            None,
            description="PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER or GSSAPI; required with SASL.",
        )
    )
    sasl_username: str | None = Field(None, description="SASL user; required with PLAIN and SCRAM.")
    sasl_password: SecretStr | None = Field(None, description="SASL password; required with PLAIN and SCRAM.")
    sasl_password_file: Path | None = Field(None, description=secretfiles.describe("KAFKA_SASL_PASSWORD"))
    sasl_oauth_provider: Literal["oidc", "aws-msk-iam"] = Field(
        "oidc",
        description="OAUTHBEARER tokens from `oidc` (client credentials) or `aws-msk-iam` (the MSK signer).",
    )
    sasl_oauth_token_url: str | None = Field(None, description="OIDC token endpoint; required with `oidc`.")
    sasl_oauth_client_id: str | None = Field(None, description="OIDC client id; required with `oidc`.")
    sasl_oauth_client_secret: SecretStr | None = Field(
        None, description="OIDC client secret (sent with HTTP Basic auth); required with `oidc`."
    )
    sasl_oauth_client_secret_file: Path | None = Field(
        None, description=secretfiles.describe("KAFKA_SASL_OAUTH_CLIENT_SECRET")
    )
    sasl_oauth_scope: str | None = Field(None, description="OIDC scope(s) asked for, space-separated.")
    sasl_oauth_extensions: CommaList = Field(
        (),
        description="SASL extensions `k=v,k=v` (Confluent Cloud: logicalCluster=lkc-...,identityPoolId=...).",
    )
    sasl_oauth_aws_region: str | None = Field(
        None,
        description="AWS region of the MSK cluster; required with `aws-msk-iam` (needs the `msk` extra).",
    )
    sasl_kerberos_service_name: str = Field(
        "kafka", description="GSSAPI: the brokers' Kerberos service name."
    )
    sasl_kerberos_domain_name: str | None = Field(
        None, description="GSSAPI: the brokers' Kerberos domain; empty = the broker host name."
    )
    ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers.")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS).")
    ssl_keyfile: Path | None = Field(None, description="Client private key (mutual TLS).")
    ssl_password: SecretStr | None = Field(None, description="Password of the client private key.")
    ssl_password_file: Path | None = Field(None, description=secretfiles.describe("KAFKA_SSL_PASSWORD"))
    group_instance_id: str | None = Field(
        None,
        description="Static membership (KIP-345): a stable id per replica, so a restart within the session "
        "timeout keeps its partitions without a rebalance. Unique per replica.",
    )
    consumer_config: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description='More prompt-consumer properties as a JSON object, e.g. `{"client.rack": "use1-az1"}`.',
    )
    producer_config: Annotated[dict[str, Any], NoDecode] = Field(
        default_factory=dict,
        description='More producer properties as a JSON object, e.g. `{"request.timeout.ms": 60000}`.',
    )
    enable_idempotence: bool = Field(
        True, description="Idempotent producer. Off for the embedded broker, which does not support it."
    )
    session_timeout_ms: int = Field(
        30_000, ge=1_000, description="A silent member leaves the group after this."
    )
    heartbeat_interval_ms: int = Field(3_000, ge=100, description="Group heartbeat period.")
    max_poll_interval_ms: int = Field(
        300_000, ge=1_000, description="Longest gap between polls (kept while paused)."
    )
    linger_ms: int = Field(2, ge=0, description="Producer batching delay; small keeps delta latency low.")
    fetch_max_wait_ms: int = Field(
        100, ge=0, description="Longest a fetch waits for new prompts; bounds pick-up latency on any broker."
    )
    compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = Field(
        None, description="Producer compression: gzip, snappy, lz4, zstd; empty = none."
    )

    _split = field_validator("sasl_oauth_extensions", mode="before")(_split_commas)

    @field_validator("sasl_oauth_extensions")
    @classmethod
    def _extensions_are_pairs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            key, eq, _ = item.partition("=")
            if not eq or not key.strip():
                raise ValueError(f"{item!r} is not key=value")
        return value

    @field_validator("consumer_config", "producer_config", mode="before")
    @classmethod
    def _client_properties(cls, value: Any, info: ValidationInfo) -> Any:
        from service.kafka import passthrough

        kind: passthrough.Kind = "consumer" if info.field_name == "consumer_config" else "producer"
        raw = passthrough.parse(value) if isinstance(value, str) else value
        return passthrough.client_properties(kind, raw) if isinstance(raw, dict) else raw

    @field_validator("group_instance_id")
    @classmethod
    def _static_membership_supported(cls, value: str | None) -> str | None:
        from service.kafka import passthrough

        if value and not passthrough.supports("consumer", "group_instance_id"):
            raise ValueError(
                "the installed aiokafka has no static membership (group_instance_id); upgrade aiokafka "
                "or unset it"
            )
        return value or None

    @field_validator("bootstrap_servers")
    @classmethod
    def _servers_listed(cls, value: str) -> str:
        servers = [server.strip() for server in value.split(",") if server.strip()]
        if not servers:
            raise ValueError("empty: list at least one HOST:PORT")
        for server in servers:
            host, sep, port = server.rpartition(":")
            if sep and (not host or not port.isdigit() or not 0 < int(port) < 65_536):
                raise ValueError(f"{server!r} is not HOST:PORT")
        return value

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if not self.security_protocol.startswith("SASL"):
            return self
        problem = _sasl_problem(self)
        if problem:
            raise ValueError(problem)
        return self


def _sasl_problem(kafka: KafkaSettings) -> str | None:
    """What a SASL connection with these settings lacks, as one line (None = complete)."""
    mechanism = kafka.sasl_mechanism
    if mechanism is None:
        return "KAFKA_SASL_MECHANISM is required with a SASL security protocol"
    if mechanism in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
        if not kafka.sasl_username or kafka.sasl_password is None:
            return f"KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with {mechanism}"
        return None
    if mechanism == "GSSAPI":
        if importlib.util.find_spec("gssapi") is None:
            return (
                "KAFKA_SASL_MECHANISM=GSSAPI needs the gssapi package and the system's Kerberos "
                "libraries: pip install 'claude-kafka[gssapi]'"
            )
        return None
    if kafka.sasl_oauth_provider == "aws-msk-iam":
        if not kafka.sasl_oauth_aws_region:
            return "KAFKA_SASL_OAUTH_AWS_REGION is required with KAFKA_SASL_OAUTH_PROVIDER=aws-msk-iam"
        if importlib.util.find_spec("aws_msk_iam_sasl_signer") is None:
            return (
                "KAFKA_SASL_OAUTH_PROVIDER=aws-msk-iam needs the MSK signer: pip install 'claude-kafka[msk]'"
            )
        return None
    missing = [
        env
        for env, value in (
            ("KAFKA_SASL_OAUTH_TOKEN_URL", kafka.sasl_oauth_token_url),
            ("KAFKA_SASL_OAUTH_CLIENT_ID", kafka.sasl_oauth_client_id),
            ("KAFKA_SASL_OAUTH_CLIENT_SECRET", kafka.sasl_oauth_client_secret),
        )
        if not value
    ]
    if missing:
        return f"{' and '.join(missing)} required with OAUTHBEARER (KAFKA_SASL_OAUTH_PROVIDER=oidc)"
    return None


class TopicSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="TOPIC_")

    prompts: str = Field("claude.prompts", description="Prompt events in.")
    deltas: str = Field("claude.deltas", description="Delta events out, key = custom_id.")
    completions: str = Field("claude.completions", description="Completion events out.")
    errors: str = Field("claude.errors", description="Error events out; the dead-letter topic.")
    batches: str = Field("claude.batches", description="Compacted batch hand-off records.")
    tool_calls: str = Field(
        "claude.tool-calls", description="Tool loops: tool call events out, key = custom_id."
    )
    tool_results: str = Field(
        "claude.tool-results",
        description="Tool loops: tool result events in (from tool workers), key = custom_id.",
    )
    runs: str = Field(
        "claude.runs", description="Tool loops: compacted record of each run so far, key = custom_id."
    )
    sessions: str = Field(
        "claude.sessions", description="Sessions: compacted history of each session, key = session id."
    )
    partitions: int = Field(6, ge=1, description="Partitions for `claude-kafka topics create`.")
    replication_factor: int = Field(1, ge=1, description="Replication for `claude-kafka topics create`.")

    def outputs(self) -> tuple[str, ...]:
        return (self.deltas, self.completions, self.errors)

    def loops(self) -> tuple[str, ...]:
        """The tool-loop topics: calls out, results in, the compacted run records."""
        return (self.tool_calls, self.tool_results, self.runs)


LOOPBACK_PLACEHOLDER_KEY = "no-key-needed-on-loopback"


class AnthropicSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="ANTHROPIC_")

    api_key: SecretStr | None = Field(
        None, description="The SDK's own variable. This or the auth token is required, unless on loopback."
    )
    auth_token: SecretStr | None = Field(
        None, description="The SDK's own variable: a bearer token, instead of (or besides) the API key."
    )
    api_key_file: Path | None = Field(None, description=secretfiles.describe("ANTHROPIC_API_KEY"))
    auth_token_file: Path | None = Field(None, description=secretfiles.describe("ANTHROPIC_AUTH_TOKEN"))
    base_url: str | None = Field(None, description="The SDK's own variable; points at the emulator in dev.")
    max_retries: int = Field(2, ge=0, description="SDK retries before the first event (honours retry-after).")
    timeout_seconds: float = Field(600.0, gt=0, description="Longest silence between stream chunks.")
    connect_timeout_seconds: float = Field(5.0, gt=0, description="TCP connect timeout to the API.")
    http_transport: Literal["aiohttp", "httpx"] = Field(
        "aiohttp",
        description="The SDK's HTTP transport: `aiohttp` (its `DefaultAioHttpClient`, half the CPU per "
        "streamed event) or `httpx` (its default client).",
    )

    @property
    def on_loopback(self) -> bool:
        """``base_url`` names this machine: a local emulator (or proxy) that needs no credentials."""
        host = urlsplit(self.base_url).hostname if self.base_url else None
        if host is None:
            return False
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def missing_credentials(self) -> bool:
        """Neither an API key nor an auth token (empty counts as unset), and an API off loopback."""
        return self.sdk_credentials() == (None, None)

    def sdk_credentials(self) -> tuple[str | None, str | None]:
        """``(api_key, auth_token)`` for the SDK's client. On loopback without either, a placeholder
        key: the SDK refuses to build a request without one, and the emulator checks only presence."""
        api_key = (self.api_key.get_secret_value() if self.api_key else None) or None
        token = (self.auth_token.get_secret_value() if self.auth_token else None) or None
        if api_key is None and token is None and self.on_loopback:
            api_key = LOOPBACK_PLACEHOLDER_KEY
        return api_key, token


class PipelineSettings(_Section):
    max_in_flight: int = Field(256, ge=1, le=100_000, description="Prompts in flight per process.")
    max_waiting_for_tools: int = Field(
        1_000,
        ge=1,
        le=100_000,
        description="Tool-loop prompts waiting for tool results (no stream slot held).",
    )
    session_max_tokens: int = Field(
        100_000, ge=100, description="Session history kept, in estimated tokens; the oldest turns go first."
    )
    max_prompt_bytes: int = Field(1_048_576, ge=256, description="Larger prompt records are rejected.")
    allowed_models: CommaList = Field((), description="Comma-separated model allow-list; empty = any.")
    max_tokens_cap: int | None = Field(None, ge=1, description="Reject prompts asking for more.")
    max_attempts: int = Field(3, ge=1, le=20, description="Attempts per prompt for broken streams.")
    retry_backoff_seconds: float = Field(0.5, ge=0, description="First backoff between attempts.")
    retry_backoff_max_seconds: float = Field(30.0, ge=0, description="Cap on the backoff between attempts.")
    delta_coalesce_ms: float = Field(0.0, ge=0, description="Merge adjacent deltas of a block; 0 = off.")
    pause_turn_max_continuations: int = Field(
        5, ge=0, le=100, description="Requests that continue a `pause_turn` answer; 0 = deliver it paused."
    )
    rebalance_grace_seconds: float = Field(
        10.0, ge=0, description="On revocation, time in-flight prompts get to finish before cancel."
    )
    shutdown_grace_seconds: float = Field(
        25.0, ge=0, description="On SIGTERM, time in-flight prompts get to finish before cancel."
    )
    rate_limit_rpm: int = Field(0, ge=0, description="Client-side requests/minute; 0 = off.")
    rate_limit_tpm: int = Field(0, ge=0, description="Client-side tokens/minute; 0 = off.")
    rate_limit_from_headers: bool = Field(
        True, description="Wait when the API's anthropic-ratelimit-* headroom is below a prompt's need."
    )
    circuit_breaker: bool = Field(
        True, description="Hold new prompts while the organisation cannot be served (401, spend limit, ...)."
    )
    circuit_backoff_seconds: float = Field(1.0, gt=0, description="First wait before the circuit's probe.")
    circuit_backoff_max_seconds: float = Field(60.0, gt=0, description="Cap on the wait between probes.")
    circuit_overload_share: float = Field(
        0.5, gt=0, le=1, description="Share of recent attempts answered 529 that opens the circuit."
    )
    circuit_overload_window_seconds: float = Field(30.0, gt=0, description="The 529 share's time window.")
    circuit_overload_attempts: int = Field(
        20, ge=1, description="The 529 share is over at most this many latest attempts (in the window)."
    )
    circuit_overload_min_attempts: int = Field(
        10, ge=1, description="Attempts in the window before the 529 share counts."
    )
    service_instance: str = Field(default_factory=socket.gethostname, description="ce_source suffix.")
    prices_file: Path | None = Field(
        None, description="JSON price rows merged over the shipped prices (same format as prices.json)."
    )

    _split = field_validator("allowed_models", mode="before")(_split_commas)

    @field_validator("prices_file")
    @classmethod
    def _prices_file_loads(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_price_file(value)  # a bad file stops start-up here, with one line
        return value


class CallbackSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="CALLBACK_")

    allowed_hosts: CommaList = Field(
        (), description="Callback hosts allowed: exact names or `*.domain`; empty = callbacks off."
    )
    allow_http: bool = Field(False, description="Allow `http://` callback URLs (development only).")
    allow_private: bool = Field(
        False, description="Allow loopback, private and link-local addresses (development only)."
    )
    signing_secret: SecretStr | None = Field(
        None, description="Standard Webhooks secret, `whsec_` + base64 (or raw text); required to run."
    )
    signing_secret_file: Path | None = Field(
        None, description=secretfiles.describe("CALLBACK_SIGNING_SECRET")
    )
    group_id: str = Field("claude-kafka-callbacks", description="Consumer group of `claude-kafka callbacks`.")
    max_attempts: int = Field(8, ge=1, le=100, description="HTTP attempts per delivery.")
    max_age_seconds: float = Field(3600.0, gt=0, description="No attempt starts later than this.")
    backoff_seconds: float = Field(1.0, ge=0, description="First backoff (then doubling, jittered).")
    backoff_max_seconds: float = Field(300.0, ge=0, description="Backoff cap (Retry-After may exceed it).")
    connect_timeout_seconds: float = Field(5.0, gt=0, description="TCP and TLS connect timeout per attempt.")
    read_timeout_seconds: float = Field(15.0, gt=0, description="Longest wait for response data.")
    max_concurrency: int = Field(64, ge=1, description="HTTP requests in flight at once.")
    per_host_limit: int = Field(8, ge=1, description="Concurrent connections per receiver host.")
    max_in_flight: int = Field(1_000, ge=1, description="Deliveries (retries included) before pausing.")
    follow_redirects: bool = Field(False, description="Follow up to 5 307/308s, each checked like the URL.")
    gone_ttl_seconds: float = Field(3600.0, ge=0, description="After a 410, the URL fails at once this long.")

    _split = field_validator("allowed_hosts", mode="before")(_split_commas)


class BatchSettings(_Section):
    model_config = SettingsConfigDict(env_prefix="BATCH_")

    max_requests: int = Field(100_000, ge=1, le=100_000, description="Requests per API batch.")
    max_bytes: int = Field(256_000_000, ge=1_024, le=256_000_000, description="Request body per batch.")
    max_wait_seconds: float = Field(60.0, gt=0, description="Oldest waiting prompt forces a submit.")
    poll_seconds: float = Field(30.0, gt=0, description="First poll interval; backs off from there.")


class ObservabilitySettings(_Section):
    metrics_port: int = Field(9464, ge=0, le=65_535, description="/metrics, /healthz, /readyz; 0 = off.")
    metrics_host: str = Field("0.0.0.0", description="Address the metrics listener binds.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="DEBUG, INFO, WARNING or ERROR."
    )
    log_format: Literal["auto", "json", "console"] = Field("auto", description="auto = console on a TTY.")
    metrics_tenant_labels: CommaList = Field(
        (), description="Prompt attribute keys whose value becomes a `tenant` metric label; empty = no label."
    )
    metrics_tenant_limit: int = Field(
        50, ge=1, le=10_000, description="Distinct tenant label values kept; later ones count as `other`."
    )

    _split = field_validator("metrics_tenant_labels", mode="before")(_split_commas)


class Settings(BaseModel):
    """The whole configuration, frozen."""

    model_config = {"frozen": True}

    kafka: KafkaSettings
    topics: TopicSettings
    anthropic: AnthropicSettings
    pipeline: PipelineSettings
    batch: BatchSettings
    callbacks: CallbackSettings
    observability: ObservabilitySettings


SECTIONS: dict[str, type[_Section]] = {
    "kafka": KafkaSettings,
    "topics": TopicSettings,
    "anthropic": AnthropicSettings,
    "pipeline": PipelineSettings,
    "batch": BatchSettings,
    "callbacks": CallbackSettings,
    "observability": ObservabilitySettings,
}


def env_name(section: type[_Section], field: str) -> str:
    return f"{section.model_config.get('env_prefix', '')}{field}".upper()


def env_names() -> dict[str, tuple[str, str]]:
    """Every setting's environment name -> its section and field."""
    return {
        env_name(section, field): (name, field)
        for name, section in SECTIONS.items()
        for field in section.model_fields
    }


def load_settings(
    env_file: Path | str | None = ".env", *, profile: Profile | None = None, **overrides: dict[str, Any]
) -> Settings:
    """Read every section; collect every problem and raise one ``ConfigError`` listing them all.

    ``overrides`` maps a section name to field values (used by the CLI and tests), e.g.
    ``load_settings(kafka={"bootstrap_servers": "127.0.0.1:19092"})``; they beat every other source.
    ``profile`` ranks below the environment and ``.env`` (module docstring).
    """
    from_profile = as_field_values(profile, env_names())
    values: dict[str, Any] = {}
    problems: list[str] = []
    token = _PROFILE_VALUES.set({SECTIONS[name]: fields for name, fields in from_profile.items()})
    try:
        for name, section in SECTIONS.items():
            try:
                values[name] = section(_env_file=env_file, **overrides.get(name, {}))
            except ValidationError as exc:
                problems.extend(_describe(section, exc))
    finally:
        _PROFILE_VALUES.reset(token)
    if problems:
        raise ConfigError(f"{len(problems)} invalid setting(s)", problems=problems)
    return Settings(**values)


def _describe(section: type[_Section], exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]]
        name = env_name(section, loc[0]) if loc else section.__name__
        message = error["msg"].removeprefix("Value error, ")
        secret = any(word in name.lower() for word in ("password", "key", "secret", "token", "config"))
        shown = "" if secret else f" (got {error['input']!r})"
        if not loc:
            lines.append(message)
        else:
            lines.append(f"{name}: {message}{shown if not isinstance(error['input'], dict) else ''}")
    return lines


def secret_values(settings: Settings) -> tuple[str, ...]:
    """The plain values of every secret setting, for the log redaction filter."""
    values = []
    for name in SECTIONS:
        current = getattr(settings, name)
        for field in type(current).model_fields:
            value = getattr(current, field)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
    return tuple(values)


def masked(settings: Settings) -> dict[str, dict[str, Any]]:
    """Effective settings by environment name, secrets shown as ``**********``."""
    out: dict[str, dict[str, Any]] = {}
    for name, section in SECTIONS.items():
        current = getattr(settings, name)
        rows: dict[str, Any] = {}
        for field in section.model_fields:
            value = getattr(current, field)
            if isinstance(value, SecretStr):
                value = "**********"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = ",".join(value)
            elif isinstance(value, dict):  # as the variable is written: a JSON object
                value = json.dumps(value) if value else ""
            rows[env_name(section, field)] = value
        out[name] = rows
    return out
