"""The project file `kintone-sync.yaml`: the warehouse, the Kintone connections, the mappings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from connector.errors import ConfigError
from connector.kintone.limits import (
    CONCURRENT_REQUESTS_PER_DOMAIN,
    ISOLATION_REQUESTS_PER_RUN,
    REQUESTS_PER_APP_PER_DAY,
)
from connector.mapping.spec import MappingSpec, _explain, load_mapping

PROJECT_FILE = "kintone-sync.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ProjectConfig(_Strict):
    """The project file."""

    source: SourceConfig = SourceConfig()
    connections: dict[str, ConnectionConfig]
    state: StateConfig = StateConfig()
    retry: RetryConfig = RetryConfig()
    limits: LimitsConfig = LimitsConfig()
    mappings_dir: str = "mappings"
    root: Path = Path(".")
    """The directory the project file sits in; relative paths resolve against it."""

    @property
    def source_url(self) -> str:
        """The warehouse URL, a relative DuckDB path resolved against the project directory."""
        url, prefix = self.source.url, "duckdb:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/"):
            rest = url[len(prefix) :]
            if rest and not rest.startswith(":memory:") and not Path(rest).is_absolute():
                return prefix + str((self.root / rest).resolve())
        return url

    def mapping_path(self, job: str) -> Path:
        """The mapping file of a job: `mappings/<job>.yaml`, or a path given directly."""
        direct = Path(job)
        if direct.suffix in (".yaml", ".yml") and (self.root / direct).exists():
            return self.root / direct
        return self.root / self.mappings_dir / f"{job}.yaml"

    def mapping(self, job: str) -> MappingSpec:
        """Load a job's mapping file.

        Raises:
            ConfigError: the file is missing or invalid, or names an unknown connection.
        """
        path = self.mapping_path(job)
        if not path.exists():
            known = sorted(p.stem for p in (self.root / self.mappings_dir).glob("*.yaml"))
            raise ConfigError(
                f"no mapping file for job {job!r}; jobs here: {', '.join(known) or 'none'}",
                file=str(path),
            )
        spec = load_mapping(path)
        if spec.connection not in self.connections:
            raise ConfigError(
                f"connection {spec.connection!r} is not in {PROJECT_FILE} "
                f"(known: {', '.join(sorted(self.connections))})",
                file=str(path),
                key="connection",
            )
        return spec

    def jobs(self) -> list[str]:
        """Every job: one per mapping file."""
        return sorted(p.stem for p in (self.root / self.mappings_dir).glob("*.yaml"))


def load_project(path: str | Path = PROJECT_FILE) -> ProjectConfig:
    """Read and validate the project file.

    Raises:
        ConfigError: the file is missing, not YAML, or breaks a rule; names the file and key.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(
            f"cannot read the project file: {exc.strerror}; run `kintone-sync init` to create "
            "one, or pass --project",
            file=str(path),
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError("the project file must be a mapping of keys", file=str(path))
    try:
        return ProjectConfig.model_validate({**data, "root": path.parent})
    except ValidationError as exc:
        raise ConfigError(_explain(exc), file=str(path)) from exc


def secret(name: str, env: Mapping[str, str] | None = None) -> str:
    """The value of an environment variable named in the project file.

    Raises:
        ConfigError: the variable is not set (the message names it, never a value).
    """
    env = os.environ if env is None else env
    value = env.get(name)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is not set; export it before the run")
    return value
