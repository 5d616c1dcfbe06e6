"""Settings, read from the environment and an optional `.env` file (and nowhere else)."""

from __future__ import annotations

import fnmatch
import hashlib
import ipaddress
import json
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from testgen.core.event_loop import EventLoopChoice
from testgen.core.i18n import ui_language

LLMProviderName = Literal["offline", "gemini", "openai"]
LLM_PROVIDER_NAMES: tuple[LLMProviderName, ...] = get_args(LLMProviderName)
OPENAI_PUBLIC_BASE_URL = "https://api.openai.com/v1"
OFFLINE_MODEL = "offline-v1"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
MIN_API_KEY_CHARS = 16
MIN_STREAM_TOKEN_SECRET_CHARS = 32
MAKE_A_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
JiraDeployment = Literal["cloud", "datacenter"]
# The project roles (domain/roles.py Role, lowest first) as OIDC_PROJECT_ROLES names them.
PROJECT_ROLE_NAMES = ("viewer", "editor", "reviewer", "admin")
MAX_PROJECT_NAME_CHARS = 200  # the projects table's limit
MAX_CLAIM_VALUE_CHARS = 500


@dataclass(frozen=True)
class SentinelAddress:
    """Where Redis Sentinel runs, and the name of the master it watches."""

    sentinels: tuple[tuple[str, int], ...]
    master: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Empty: SQLite at DATA_DIR/testgen.db, so two instances with different DATA_DIR share nothing.
    database_url: str = ""
    redis_url: SecretStr | None = None
    redis_sentinels: str = ""  # host:port,host:port: reach Redis through Sentinel
    redis_sentinel_master: str = Field(default="mymaster", min_length=1, max_length=200)
    data_dir: Path = Path("data")
    embedded_redis_idle_s: float = Field(default=10.0, ge=1, le=3600)

    llm_provider: LLMProviderName | None = None
    gemini_api_key: SecretStr | None = None
    gemini_model: str = "gemini-2.5-flash"
    gemini_base_url: str | None = None
    gemini_api_version: str = "v1beta"
    gemini_timeout_s: float = Field(default=120.0, gt=0)
    # A job whose shared prompt prefix (story, files, rules) reaches this many tokens, in two or more
    # batches, puts it in an explicit Gemini cache for the job's life; 0: never (implicit caching only).
    gemini_cache_min_tokens: int = Field(default=4096, ge=0)
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = Field(default="gpt-4o-mini", min_length=1, max_length=200)
    openai_api_version: str | None = None
    azure_openai_endpoint: str | None = None
    openai_timeout_s: float = Field(default=120.0, gt=0)
    llm_max_attempts: int = Field(default=5, ge=1, le=20)
    llm_max_reasks: int = Field(default=2, ge=0, le=10)
    llm_max_concurrency: int = Field(default=32, ge=1)
    llm_rpm: int = Field(default=0, ge=0)
    llm_tpm: int = Field(default=0, ge=0)  # tokens a minute, shared like LLM_RPM
    llm_rpd: int = Field(default=0, ge=0)  # requests a day (24 hours, sliding), shared like LLM_RPM
    offline_llm_delay_s: float = Field(default=0.0, ge=0)

    batch_max_scenarios: int = Field(default=15, ge=1, le=100)
    # Jobs with delivery "batch": their provider batch is checked after PROVIDER_BATCH_POLL_S, then after
    # twice as long each time up to PROVIDER_BATCH_POLL_MAX_S. Requests the batch failed (or answered
    # with unusable output) go into up to PROVIDER_BATCH_RESUBMITS more provider batches, then are asked
    # as normal calls.
    provider_batch_poll_s: float = Field(default=60.0, gt=0, le=3600)
    provider_batch_poll_max_s: float = Field(default=1800.0, gt=0, le=86_400)
    provider_batch_resubmits: int = Field(default=0, ge=0, le=3)
    # Two scenarios whose given, when and then are each at least this % similar (same numbers and
    # negations) are near-duplicates; the default is tuned on tests/unit/test_similarity.py's examples.
    duplicate_threshold: float = Field(default=85.0, ge=50, le=100)
    worker_max_jobs: int = Field(default=50, ge=1)
    job_timeout_s: int = Field(default=600, ge=1)
    keep_result_s: int = Field(default=3600, ge=60)
    worker_poll_delay_s: float = Field(default=0.05, gt=0, le=0.05)
    worker_shutdown_wait_s: float = Field(default=30.0, ge=0)
    worker_heartbeat_file: Path | None = None

    sse_ping_interval_s: float = Field(default=15.0, gt=0, le=15.0)
    sse_queue_size: int = Field(default=256, ge=8)
    redis_max_connections: int = Field(default=4, ge=1)

    # Jira: Cloud (REST v3, basic auth with JIRA_EMAIL + JIRA_API_TOKEN) or Data Center (REST v2,
    # bearer JIRA_PAT). Unset JIRA_BASE_URL: imports are refused with a message saying so.
    jira_deployment: JiraDeployment = "cloud"
    jira_base_url: str | None = Field(default=None, max_length=500)
    jira_email: str | None = Field(default=None, max_length=320)
    jira_api_token: SecretStr | None = None
    jira_pat: SecretStr | None = None
    jira_acceptance_field: str | None = Field(default=None, max_length=100)  # e.g. customfield_10034
    jira_page_size: int = Field(default=50, ge=1, le=100)
    jira_max_issues: int = Field(default=2000, ge=1, le=50_000)
    jira_timeout_s: float = Field(default=30.0, gt=0)
    jira_max_retries: int = Field(default=4, ge=0, le=10)  # on 429/503, honouring Retry-After
    jira_max_retry_wait_s: float = Field(default=60.0, ge=0)
    # GitHub and Azure DevOps imports (docs/user-guide/jira.md): issues or work items one import reads,
    # and the longest rate-limit wait it sits out (GitHub's reset can be an hour away).
    import_max_items: int = Field(default=2000, ge=1, le=50_000)
    import_max_rate_limit_wait_s: float = Field(default=900.0, ge=0)
    # A Jira import's comments (`"with": ["comments"]`): the newest this many per story, each cut to this
    # many characters.
    jira_max_comments: int = Field(default=10, ge=1, le=100)
    jira_max_comment_chars: int = Field(default=1000, ge=100, le=20_000)

    # Story attachments (docs/user-guide/stories.md#attachments): content kept once per sha256 under
    # DATA_DIR/attachments; images re-encoded to at most ATTACHMENT_MAX_IMAGE_SIDE px a side.
    max_attachment_bytes: int = Field(default=10_485_760, ge=1024, le=104_857_600)
    max_attachments_per_story: int = Field(default=20, ge=1, le=1000)
    max_attachment_bytes_per_project: int = Field(default=1_073_741_824, ge=1024)
    attachment_max_image_side: int = Field(default=2048, ge=64, le=8192)
    attachment_max_image_pixels: int = Field(default=40_000_000, ge=4096, le=200_000_000)
    attachment_max_pdf_pages: int = Field(default=200, ge=1, le=5000)
    # The share of a prompt that attachment text may take (tokens, about 4 characters each).
    context_max_tokens: int = Field(default=6000, ge=0, le=1_000_000)
    # Models that are sent images, as provider:pattern (fnmatch), comma-separated; others get names only.
    llm_image_models: str = Field(
        default="gemini:gemini-*,openai:gpt-4o*,openai:gpt-4.1*,openai:gpt-5*,openai:o3*,openai:o4*",
        max_length=2000,
    )
    # Attachment content in an S3-compatible bucket (several hosts) instead of DATA_DIR/attachments.
    attachment_s3_bucket: str | None = Field(default=None, max_length=63)
    attachment_s3_prefix: str = Field(default="attachments/", max_length=200)
    attachment_s3_endpoint_url: str | None = Field(default=None, max_length=500)  # unset: AWS
    attachment_s3_region: str | None = Field(default=None, max_length=50)
    attachment_s3_access_key_id: str | None = Field(default=None, max_length=200)  # unset: AWS's chain
    attachment_s3_secret_access_key: SecretStr | None = None

    api_keys: SecretStr | None = None
    # With API_KEYS: names keys and signs stream tokens (HMAC), the same in every API process.
    stream_token_secret: SecretStr | None = None
    cors_origins: str = ""
    allowed_hosts: str = ""
    # The reverse proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto the API
    # reads; empty: none, the client address is always the connection's.
    forwarded_allow_ips: str = ""
    # Fernet keys, comma-separated (the first encrypts): connection credentials at rest (core/secret_box.py).
    secrets_key: SecretStr | None = None
    # Accounts (docs/security.md): signed-in sessions, personal tokens, the audit trail.
    session_ttl_s: int = Field(default=43_200, ge=60, le=2_592_000)
    sign_in_failures_per_account: int = Field(default=5, ge=1, le=1000)  # a minute, then 429
    sign_in_failures_per_client: int = Field(default=20, ge=1, le=10_000)  # a minute, then 429
    audit_retention_days: int = Field(default=365, ge=0)  # 0: keep every row
    # Audit rows of calls this close together are written in one transaction (api/audit_writer.py);
    # 0: each row with its call, before the call's request ends.
    audit_batch_delay_s: float = Field(default=0.05, ge=0, le=5)
    # OpenID Connect sign-in: on when OIDC_ISSUER is set (discovery at its /.well-known address).
    oidc_issuer: str | None = Field(default=None, max_length=500)
    oidc_client_id: str | None = Field(default=None, max_length=500)
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = Field(default="openid email profile", max_length=500)
    # The ID token claim (a string or a list of strings) that maps to roles, e.g. `groups`.
    oidc_role_claim: str | None = Field(default=None, max_length=100)
    oidc_admin_values: str = Field(default="", max_length=2000)  # claim values that make a server admin
    # Claim values that grant project roles, a JSON object: {"<claim value>": {"<project name>" or "*":
    # "<role>"}}; each sign-in brings the memberships the claim granted in line (data/accounts.py).
    oidc_project_roles: str = Field(default="", max_length=20_000)
    # Where the provider sends the browser back; empty: this server's /auth/oidc/callback as asked.
    oidc_redirect_url: str | None = Field(default=None, max_length=2000)
    oidc_timeout_s: float = Field(default=10.0, gt=0, le=120)
    rate_limit_per_minute: int = Field(default=1200, ge=0)
    auth_failures_per_minute: int = Field(default=20, ge=0)
    max_jobs_in_flight_per_key: int = Field(default=5000, ge=0)
    max_streams_per_key: int = Field(default=20, ge=0)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # The event loop of the API and the worker processes: uvloop when installed (auto), as uvicorn picks.
    event_loop: EventLoopChoice = "auto"

    # Metrics and traces (docs/operations/metrics.md and traces.md). A worker serves its Prometheus
    # metrics only when WORKER_METRICS_PORT is set, on this machine only unless WORKER_METRICS_HOST
    # says otherwise (the Kubernetes base sets 0.0.0.0 for Prometheus); traces are sent only when one
    # of the OTEL_ settings is.
    worker_metrics_port: int | None = Field(default=None, ge=1, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    otel_exporter_otlp_endpoint: str | None = Field(default=None, max_length=500)
    otel_traces_exporter: Literal["otlp", "console", "none"] | None = None
    otel_service_name: str | None = Field(default=None, max_length=100)

    @property
    def tracing_enabled(self) -> bool:
        """Traces are sent when OTEL_TRACES_EXPORTER names an exporter or an OTLP endpoint is set."""
        if self.otel_traces_exporter is not None:
            return self.otel_traces_exporter != "none"
        return bool(self.otel_exporter_otlp_endpoint)

    @field_validator(
        "redis_url",
        "llm_provider",
        "gemini_api_key",
        "gemini_base_url",
        "openai_api_key",
        "openai_base_url",
        "openai_api_version",
        "azure_openai_endpoint",
        "api_keys",
        "stream_token_secret",
        "jira_base_url",
        "jira_email",
        "jira_api_token",
        "jira_pat",
        "jira_acceptance_field",
        "worker_metrics_port",
        "otel_exporter_otlp_endpoint",
        "otel_traces_exporter",
        "otel_service_name",
        "secrets_key",
        "oidc_issuer",
        "oidc_client_id",
        "oidc_client_secret",
        "oidc_role_claim",
        "oidc_redirect_url",
        "attachment_s3_bucket",
        "attachment_s3_endpoint_url",
        "attachment_s3_region",
        "attachment_s3_access_key_id",
        "attachment_s3_secret_access_key",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """`REDIS_URL=` in .env means "not set", as it reads."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies_parse(cls, value: str) -> str:
        for entry in _comma_list(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"FORWARDED_ALLOW_IPS lists {entry[:60]!r}, which is not an IP address or network: list "
                    "the addresses of your reverse proxies (like 10.0.0.5 or 10.0.0.0/24), comma-separated"
                ) from None
        return value

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels_parse(cls, value: str) -> str:
        if value.strip():
            _host_ports(value)
        return value

    @field_validator("oidc_project_roles")
    @classmethod
    def _project_roles_parse(cls, value: str) -> str:
        _project_roles(value)
        return value

    @model_validator(mode="after")
    def _project_roles_need_a_claim(self) -> Settings:
        if self.oidc_project_roles.strip() and not self.oidc_role_claim:
            raise ValueError(
                "OIDC_PROJECT_ROLES maps values of a claim, but OIDC_ROLE_CLAIM names none: set "
                "OIDC_ROLE_CLAIM (such as groups), or leave OIDC_PROJECT_ROLES empty"
            )
        return self

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if self.llm_provider is None:
            self.llm_provider = "gemini" if self.gemini_api_key else "offline"
        if not self.database_url.strip():
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'testgen.db'}"
        return self

    @property
    def provider(self) -> LLMProviderName:
        assert self.llm_provider is not None
        return self.llm_provider

    @property
    def openai_is_azure(self) -> bool:
        """Azure OpenAI (AsyncAzureOpenAI) when an API version or an Azure endpoint is set."""
        return bool(self.openai_api_version or self.azure_openai_endpoint)

    @property
    def openai_endpoint(self) -> str:
        """The server the openai provider talks to."""
        if self.openai_is_azure:
            return self.azure_openai_endpoint or self.openai_base_url or ""
        return self.openai_base_url or OPENAI_PUBLIC_BASE_URL

    def provider_configured(self, name: str) -> bool:
        """Whether projects may choose provider `name`: the default one, offline, or one whose settings
        are given (GEMINI_API_KEY; OPENAI_BASE_URL, OPENAI_API_KEY or AZURE_OPENAI_ENDPOINT)."""
        if name == self.provider or name == "offline":
            return True
        if name == "gemini":
            return self.gemini_api_key is not None
        if name == "openai":
            return bool(self.openai_base_url or self.openai_api_key or self.azure_openai_endpoint)
        return False

    @property
    def configured_providers(self) -> list[LLMProviderName]:
        """The providers this server can use, the default first."""
        others = [p for p in LLM_PROVIDER_NAMES if p != self.provider and self.provider_configured(p)]
        return [self.provider, *others]

    def default_model(self, provider: str) -> str:
        return {"gemini": self.gemini_model, "openai": self.openai_model}.get(provider, OFFLINE_MODEL)

    @cached_property
    def api_key_list(self) -> list[str]:
        raw = self.api_keys.get_secret_value() if self.api_keys else ""
        return [k.strip() for k in raw.split(",") if k.strip()]

    def api_keys_problem(self) -> str | None:
        """What keeps API_KEYS from guarding the API (the API refuses to start), or None. Unset (or
        blank) API_KEYS is keyless mode, for this machine only."""
        if self.api_keys is None:
            return None
        keys = self.api_key_list
        if not keys:
            return (
                "API_KEYS lists no key (only commas and spaces), so nothing would be guarded: set "
                f"comma-separated keys of at least {MIN_API_KEY_CHARS} characters, or leave API_KEYS "
                "empty to run without keys on this machine only"
            )
        short = [str(i) for i, key in enumerate(keys, 1) if len(key) < MIN_API_KEY_CHARS]
        if short:
            which = (
                f"key {short[0]} of {len(keys)} has"
                if len(short) == 1
                else f"keys {', '.join(short)} of {len(keys)} have"
            )
            return (
                f"API_KEYS: every key needs at least {MIN_API_KEY_CHARS} characters (a short key is easy "
                f"to guess), and {which} fewer: use random keys, e.g. from `{MAKE_A_SECRET}`"
            )
        secret = self.stream_token_secret.get_secret_value() if self.stream_token_secret else ""
        if len(secret) < MIN_STREAM_TOKEN_SECRET_CHARS:
            state = (
                "is not set" if not secret else f"is shorter than {MIN_STREAM_TOKEN_SECRET_CHARS} characters"
            )
            return (
                f"API_KEYS is set but STREAM_TOKEN_SECRET {state}: set it to a random value of at least "
                f"{MIN_STREAM_TOKEN_SECRET_CHARS} characters, the same for every API process, e.g. from "
                f"`{MAKE_A_SECRET}`"
            )
        return None

    @property
    def secrets_key_list(self) -> list[str]:
        return _comma_list(self.secrets_key.get_secret_value()) if self.secrets_key else []

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def oidc_admin_value_list(self) -> list[str]:
        return _comma_list(self.oidc_admin_values)

    @property
    def oidc_project_role_map(self) -> dict[str, dict[str, str]]:
        """OIDC_PROJECT_ROLES read: claim value -> project name (or `*`, every project) -> role."""
        return _project_roles(self.oidc_project_roles)

    def accepts_images(self, provider: str, model: str) -> bool:
        """Whether `model` of `provider` is sent images (LLM_IMAGE_MODELS); a model not named there is not."""
        name = model.removeprefix("models/")
        for entry in _comma_list(self.llm_image_models):
            wanted, _, pattern = entry.partition(":")
            if wanted.strip() == provider and fnmatch.fnmatchcase(name, pattern.strip()):
                return True
        return False

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def forwarded_allow_ip_list(self) -> list[str]:
        """The reverse proxies trusted to say who the client is (X-Forwarded-For), none by default: each
        an address or a network written as uvicorn reads it (`10.0.0.7/24` as `10.0.0.0/24`)."""
        entries = _comma_list(self.forwarded_allow_ips)
        network, address = ipaddress.ip_network, ipaddress.ip_address
        return [str(network(e, strict=False) if "/" in e else address(e)) for e in entries]

    @property
    def allowed_host_list(self) -> list[str]:
        """Host names the API answers to (besides the address it is bound to); `*` allows any."""
        extra = [h.strip().lower() for h in self.allowed_hosts.split(",") if h.strip()]
        return [*LOCAL_HOSTS, *extra]

    @property
    def embedded_redis_socket(self) -> Path:
        """Where the embedded Redis listens when REDIS_URL is unset.

        Every process derives the same path from DATA_DIR, so the API and all workers share
        one server. Unix socket paths are limited to ~100 bytes; long ones move to the temp dir.
        """
        path = self.data_dir.resolve() / "redis.sock"
        if len(str(path)) > 100:
            digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
            path = Path(tempfile.gettempdir()) / f"testgen-{digest}.sock"
        return path

    @property
    def effective_redis_url(self) -> str:
        """REDIS_URL; else, behind Sentinel, a URL naming the sentinels (for messages only); else the
        embedded server's socket."""
        if self.redis_url is not None:
            return self.redis_url.get_secret_value()
        if self.redis_sentinel is not None:
            hosts = ",".join(f"{host}:{port}" for host, port in self.redis_sentinel.sentinels)
            return f"redis+sentinel://{hosts}/{self.redis_sentinel.master}"
        return f"unix://{self.embedded_redis_socket}"

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None and self.redis_sentinel is None

    @cached_property
    def redis_sentinel(self) -> SentinelAddress | None:
        if not self.redis_sentinels.strip():
            return None
        return SentinelAddress(_host_ports(self.redis_sentinels), self.redis_sentinel_master)


def _comma_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


PROJECT_ROLES_FORMAT = (
    'a JSON object from claim values to projects and roles, such as {"qa-team": {"Shop": "editor"}, '
    '"auditors": {"*": "viewer"}} (`*`: every project; roles: ' + ", ".join(PROJECT_ROLE_NAMES) + ")"
)


def _project_roles(text: str) -> dict[str, dict[str, str]]:
    """OIDC_PROJECT_ROLES parsed, or a ValueError that names the setting and what is wrong."""
    if not text.strip():
        return {}

    def bad(what: str) -> ValueError:
        return ValueError(f"OIDC_PROJECT_ROLES: {what}; write {PROJECT_ROLES_FORMAT}")

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        if len(set(keys)) < len(keys):
            twice = next(key for key in keys if keys.count(key) > 1)
            raise bad(f"{twice[:60]!r} is named twice in one object")
        return dict(pairs)

    try:
        raw = json.loads(text, object_pairs_hook=unique)
    except ValueError as exc:
        if str(exc).startswith("OIDC_PROJECT_ROLES"):
            raise
        raise bad("it is not JSON") from None
    if not isinstance(raw, dict):
        raise bad("it is not a JSON object")
    parsed: dict[str, dict[str, str]] = {}
    for value, grants in raw.items():
        if not value.strip() or len(value) > MAX_CLAIM_VALUE_CHARS:
            raise bad(f"the claim value {value[:60]!r} is empty or longer than {MAX_CLAIM_VALUE_CHARS}")
        if not isinstance(grants, dict) or not grants:
            raise bad(f"the claim value {value[:60]!r} maps to no object of projects and roles")
        parsed[value] = {}
        for project, role in grants.items():
            if not project.strip() or len(project) > MAX_PROJECT_NAME_CHARS:
                raise bad(f"under {value[:60]!r}, a project name is empty or too long")
            if role not in PROJECT_ROLE_NAMES:
                raise bad(f"under {value[:60]!r}, the role of {project[:60]!r} is {str(role)[:30]!r}")
            parsed[value][project] = role
    return parsed


def _host_ports(text: str) -> tuple[tuple[str, int], ...]:
    found = []
    for item in (part.strip() for part in text.split(",")):
        host, _, port = item.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"REDIS_SENTINELS: {item[:100]!r} is not host:port")
        found.append((host, int(port)))
    return tuple(found)


class ClientSettings(BaseSettings):
    """Settings of the CLI's client commands (`testgen generate`, `status`, `stories import`)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    testgen_api_key: SecretStr | None = None
    testgen_api_url: str | None = Field(default=None, max_length=2000)
    testgen_language: str | None = Field(
        default=None, max_length=35, description="The CLI's language (en, es); unset: LANG's"
    )
    lang: str | None = Field(default=None, max_length=100, description="The POSIX locale, e.g. es_ES.UTF-8")

    @property
    def ui_language(self) -> str:
        """The message table the CLI speaks: TESTGEN_LANGUAGE, else the locale's language, else English."""
        return ui_language(self.testgen_language or self.lang)
