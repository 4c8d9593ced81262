"""The project file `kintone-sync.yaml`: the warehouse, the Kintone connections, the jobs."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

import httpx
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from connector import cron
from connector.errors import ConfigError
from connector.kintone.limits import (
    CONCURRENT_REQUESTS_PER_DOMAIN,
    ISOLATION_REQUESTS_PER_RUN,
    REQUESTS_PER_APP_PER_DAY,
)
from connector.logs import redact
from connector.mapping.spec import MappingSpec, load_mapping
from connector.yamlfile import Problem, YamlFile, load_yaml

PROJECT_FILE = "kintone-sync.yaml"


class _Strict(BaseModel):
    # strict: no coercion, so YAML's `app: ON` (a boolean) is not read as app 1, nor 1.0 as 1.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class OAuthConfig(_Strict):
    """OAuth client credentials; `kintone-sync auth login` stores the refresh token."""

    client_id_env: str
    client_secret_env: str
    scopes: list[str] = ["k:app_record:read", "k:app_record:write", "k:app_settings:read"]
    redirect_port: int = 8765
    """Port of the local redirect listener (`http://localhost:PORT/callback`)."""
    token_file: str = ".kintone-sync/oauth-token.json"
    """Where the refresh token is kept, with 0600 permissions."""


class AuthConfig(_Strict):
    """How to sign in. Secrets are named by environment variable, never written here."""

    api_token_env: str | list[str] | None = None
    """Variable(s) holding API tokens; several are joined (lookup source apps need theirs)."""
    username_env: str | None = None
    password_env: str | None = None
    oauth: OAuthConfig | None = None

    @model_validator(mode="after")
    def _one_scheme(self) -> AuthConfig:
        schemes = [
            self.api_token_env is not None,
            self.username_env is not None or self.password_env is not None,
            self.oauth is not None,
        ]
        if sum(schemes) != 1:
            raise ValueError(
                "give exactly one of api_token_env, username_env + password_env, or oauth"
            )
        if (self.username_env is None) != (self.password_env is None):
            raise ValueError("password auth needs both username_env and password_env")
        return self


class BasicAuthConfig(_Strict):
    """The Basic authentication a protected domain adds in front of Kintone."""

    username_env: str
    password_env: str


class ClientCertConfig(_Strict):
    """A client certificate for Secure Access domains (`*.s.cybozu.com`)."""

    cert_file: str
    """PEM file holding the certificate (and the key, unless key_file is given)."""
    key_file: str | None = None
    password_env: str | None = None


class ConnectionConfig(_Strict):
    """One Kintone domain and how to reach it."""

    base_url: str
    """`https://example.cybozu.com`; plain http is for the local emulator only."""
    auth: AuthConfig
    basic_auth: BasicAuthConfig | None = None
    client_cert: ClientCertConfig | None = None
    proxy: str | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    verify_tls: bool = True
    """Leave on: turning it off lets anyone on the path read the API token."""

    @field_validator("base_url")
    @classmethod
    def _https_or_loopback(cls, base_url: str) -> str:
        url = _parse_url(base_url, "base_url", "https://example.cybozu.com")
        if url.scheme not in ("https", "http"):
            raise ValueError(
                f"base_url must start with https:// (not {url.scheme}://): "
                "https://example.cybozu.com"
            )
        if url.userinfo:
            raise ValueError(
                "base_url must not hold a user or password; name the variables that hold them "
                "under auth or basic_auth"
            )
        if url.scheme == "http" and not is_loopback(url.host):
            raise ValueError(
                "plain http:// would send the credentials unencrypted; use https://, "
                "or http:// only for localhost, 127.0.0.0/8 or ::1 (a local emulator)"
            )
        return base_url.strip()

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, proxy: str | None) -> str | None:
        if proxy is None:
            return None
        url = _parse_url(proxy, "proxy", "http://proxy.example:3128")
        if url.scheme in ("socks5", "socks5h"):
            if importlib.util.find_spec("socksio") is None:
                raise ValueError(
                    "a SOCKS proxy needs the socksio package; pip install 'httpx[socks]'"
                )
        elif url.scheme not in ("http", "https"):
            raise ValueError(
                f"proxy must start with http://, https:// or socks5:// (not {url.scheme}://)"
            )
        return proxy


def _parse_url(text: str, key: str, example: str) -> httpx.URL:
    """`text` as an absolute URL with a host and a valid port; messages never repeat the text,
    which may hold a password."""
    try:
        url = httpx.URL(text.strip())
    except httpx.InvalidURL as exc:
        reason = str(exc).split(":")[0].split(",")[0]  # "Invalid port: 'x'" without the 'x'
        raise ValueError(f"{key} is not a valid URL ({reason}); write it as {example}") from None
    if not url.scheme or not url.host:
        raise ValueError(f"{key} needs a scheme and a host: {example}")
    if url.port is not None and url.port > 65535:
        raise ValueError(f"{key} has port {url.port}, past 65535")
    return url


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class SourceConfig(_Strict):
    """The warehouse."""

    url: str = "duckdb:///warehouse.duckdb"
    """A SQLAlchemy URL; `${VAR}` is replaced from the environment."""
    chunk_size: int = Field(default=5000, ge=1)


class StateConfig(_Strict):
    """Where runs keep what they did: row to record id and payload hash, rejects, history."""

    url: str | None = None
    """A SQLAlchemy URL (`${VAR}` replaced); a SQLite file in .kintone-sync/ when unset. Use a
    database such as PostgreSQL on runners whose disk does not last between runs."""


class RetryConfig(_Strict):
    """How transient errors (429, 5xx, lock errors, lost connections) are retried."""

    attempts: int = Field(default=6, ge=1)
    backoff_seconds: float = Field(default=0.5, ge=0)
    """Base of the jittered exponential backoff; Retry-After is honoured when longer."""
    max_backoff_seconds: float = Field(default=30.0, ge=0)


class LimitsConfig(_Strict):
    """How hard a run may press on Kintone."""

    concurrency: int = Field(default=4, ge=1, le=CONCURRENT_REQUESTS_PER_DOMAIN // 2)
    """bulkRequests in flight at once; Kintone allows 100 concurrent requests per domain."""
    requests_per_second: float | None = Field(default=None, gt=0)
    daily_budget: int = Field(default=REQUESTS_PER_APP_PER_DAY, ge=1)
    """API calls per app per day; a run warns before it would pass this."""
    isolation_requests: int = Field(default=ISOLATION_REQUESTS_PER_RUN, ge=0)
    """Requests one run may spend finding the rows Kintone refuses; past it, the rows still
    in doubt are refused for this run and sent again on the next."""


class AlertsConfig(_Strict):
    """Where to say that a run failed or refused rows: a chat tool's incoming webhook."""

    webhook_url_env: str
    """Variable holding the webhook URL (Slack, Teams); the URL is a secret, never logged."""


class JobConfig(_Strict):
    """What the project says about one job beyond its mapping file: order, schedule, alerts."""

    needs: list[str] = []
    """Jobs that run first when run together (a lookup's source app, say); a job whose need
    failed is skipped."""
    schedule: str | None = None
    """A five-field cron expression for `kintone-sync schedule` (`30 2 * * *`)."""
    timezone: str = "UTC"
    """The IANA time zone the schedule's times are in (`Asia/Tokyo`)."""
    alerts: AlertsConfig | None = None
    """Replaces the project's alerts for this job."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, schedule: str | None) -> str | None:
        return None if schedule is None else cron.check(schedule)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        cron.zone(name)
        return name


class ProjectConfig(_Strict):
    """The project file."""

    source: SourceConfig = SourceConfig()
    connections: dict[str, ConnectionConfig]
    state: StateConfig = StateConfig()
    retry: RetryConfig = RetryConfig()
    limits: LimitsConfig = LimitsConfig()
    mappings_dir: str = "mappings"
    jobs: dict[str, JobConfig] = {}
    """Per-job settings, keyed by job (mapping file) name; a job not named here has none."""
    alerts: AlertsConfig | None = None
    root: Path = Field(default=Path("."), strict=False)
    """The directory the project file sits in; relative paths resolve against it."""

    @property
    def source_url(self) -> str:
        """The warehouse URL: a relative DuckDB path resolved against the project directory,
        and a DuckDB file opened read-only, so that a wrong path is not created empty."""
        url, prefix = self.source.url, "duckdb:///"
        if not url.startswith(prefix):
            return url
        rest, _, query = url[len(prefix) :].partition("?")
        if not rest or rest.startswith((":memory:", "md:", "motherduck:")):
            return url
        if not rest.startswith("/") and not Path(rest).is_absolute():
            rest = str((self.root / rest).resolve())
        if "access_mode=" not in query:
            query = "&".join(q for q in (query, "access_mode=read_only") if q)
        return f"{prefix}{rest}?{query}"

    def mapping_path(self, job: str) -> Path:
        """Where a job's mapping file is: `mappings/<job>.yaml`, existing or not.

        Raises:
            ConfigError: the job name is a path (holds `/` or `\\`, starts with `.`).
        """
        check_job_name(job)
        return self.root / self.mappings_dir / f"{job}.yaml"

    def require_job(self, job: str) -> Path:
        """The mapping file of a job the project knows.

        Raises:
            ConfigError: the name is not a job name, or no mapping file has it; lists the jobs.
        """
        path = self.mapping_path(job)
        if not path.is_file():
            raise ConfigError(
                f"no job named {job}; jobs are: {', '.join(self.job_names()) or 'none'} "
                f"(one per mapping file in {self.mappings_dir}/)"
            )
        return path

    def mapping(self, job: str) -> MappingSpec:
        """Load a job's mapping file.

        Raises:
            ConfigError: no such job, the file is invalid, or it names an unknown connection.
        """
        path = self.require_job(job)
        spec = load_mapping(path)
        if spec.connection not in self.connections:
            raise ConfigError(
                f"connection {spec.connection!r} is not in {PROJECT_FILE} "
                f"(known: {', '.join(sorted(self.connections))})",
                file=str(path),
                key="connection",
            )
        auth = self.connections[spec.connection].auth
        if spec.user_table is not None and auth.username_env is None:
            scheme = "an API token" if auth.api_token_env is not None else "OAuth"
            raise ConfigError(
                f"user_table {spec.user_table} goes through the cybozu.com User API, which takes "
                f"a login name and password only, and connection {spec.connection!r} uses "
                f"{scheme}; give that job a connection with auth.username_env and "
                "auth.password_env (a cybozu.com administrator's login)",
                file=str(path),
                key="connection",
            )
        return spec

    def job_names(self) -> list[str]:
        """Every job: one per mapping file."""
        found = (self.root / self.mappings_dir).glob("*.yaml")
        return sorted(p.stem for p in found if p.is_file() and _is_job_name(p.stem))


def check_job_name(job: str) -> None:
    """A job name names a mapping file in the mappings directory; it is never a path.

    Raises:
        ConfigError: the name is empty, holds a path separator or a control character, or
            starts with a dot (`../x`, `a/b`, `.hidden`).
    """
    if not _is_job_name(job):
        raise ConfigError(
            f"job name {job!r} is not a name: a job is the name of a mapping file in the "
            "mappings directory, without .yaml (no /, \\, leading dot or control characters)"
        )


def _is_job_name(job: str) -> bool:
    return bool(job) and job.isprintable() and job[0] != "." and not set(job) & {"/", "\\"}


def load_project(path: str | Path = PROJECT_FILE) -> ProjectConfig:
    """Read and validate the project file.

    Raises:
        ConfigError: the file is missing, not YAML, or breaks a rule; names the file and key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            "cannot read the project file: it does not exist; run `kintone-sync init` to "
            "create one, or pass --project",
            file=str(path),
        )
    file = load_yaml(path, "project file")
    if not isinstance(file.data, dict | None):
        raise ConfigError("the project file must be a mapping of keys", file=str(path))
    try:
        project = ProjectConfig.model_validate({**(file.data or {}), "root": path.parent})
    except ValidationError as exc:
        raise file.explain(exc) from None  # pydantic repeats the input: a proxy password
    problems = job_problems(project, file)
    if problems:
        raise ConfigError("; ".join(p.where_and_what() for p in problems), file=str(path))
    return project


def job_problems(project: ProjectConfig, file: YamlFile) -> list[Problem]:
    """What is wrong in the `jobs` section beyond each key's type: a job without a mapping
    file, a need that is not a job, a job that needs itself, needs that go round."""
    from connector.jobs import find_cycle

    known = set(project.job_names())
    listed = ", ".join(sorted(known)) or "none"
    problems: list[Problem] = []

    def add(message: str, *location: str) -> None:
        at = ("jobs", *location)
        problems.append(Problem(str(file.path), file.line_of(at), ".".join(at), message))

    for name, job in project.jobs.items():
        if name not in known:
            where = f"{project.mappings_dir}/"
            add(f"job {name!r} has no mapping file in {where} (jobs: {listed})", name)
        for index, need in enumerate(job.needs):
            if need == name:
                add(f"job {name!r} needs itself; remove it from its needs", name, "needs")
            elif need not in known:
                add(
                    f"needs job {need!r}, which has no mapping file (jobs: {listed})",
                    name,
                    "needs",
                    str(index),
                )
    cycle = find_cycle({n: [x for x in j.needs if x != n] for n, j in project.jobs.items()})
    if cycle:
        add(
            f"needs go round in a cycle: {' -> '.join(cycle)}; remove one of these needs",
            cycle[0],
            "needs",
        )
    return problems


def secret(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of an environment variable named in the project file, surrounding whitespace
    (a secret file's trailing newline, a pasted space) stripped.

    Raises:
        ConfigError: the variable is not set, or holds a control character or a non-ASCII
            character (the message names the variable, never its value).
    """
    env = os.environ if env is None else env
    value = (env.get(name) or "").strip()
    if value == "":
        raise ConfigError(f"environment variable {name} is not set; export it before the run")
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        kind = "a non-ASCII character" if ord(bad) > 0x7F else "a control character"
        raise ConfigError(
            f"environment variable {name} holds {kind}; credentials are printable ASCII, so "
            "check that the variable holds the credential and nothing else"
        )
    redact(value)
    return value
