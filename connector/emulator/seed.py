"""The emulator's seed file and switches: pydantic models for what a Kintone domain holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Right = Literal["view", "add", "edit", "delete", "manage"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TokenSeed(_Strict):
    """An app's API token and the rights it carries (Kintone's token settings screen)."""

    token: str
    view: bool = True
    add: bool = False
    edit: bool = False
    delete: bool = False
    manage: bool = False
    """"Manage app": needed to write CREATOR, CREATED_TIME, MODIFIER and UPDATED_TIME on insert."""


class AppSeed(_Strict):
    """One app: its form, its tokens, who may do what, and its records."""

    id: int = Field(ge=1)
    code: str = ""
    name: str
    description: str = ""
    guest_space: int | None = None
    """Guest space id: the app is then served under /k/guest/{id}/v1/ only."""
    properties: dict[str, dict[str, Any]]
    """Field definitions, exactly as `GET /k/v1/app/form/fields.json` returns `properties`."""
    layout: list[dict[str, Any]] | None = None
    """As `app/form/layout.json` returns `layout`; built from `properties` when left out."""
    tokens: list[TokenSeed] = []
    user_rights: dict[str, list[Right]] | None = None
    """Rights per user code for password and OAuth access; every user has every right if unset."""
    records: list[dict[str, Any]] = []
    """Records in the write shape, `{field_code: {"value": ...}}`, added in order at start."""

    @model_validator(mode="after")
    def _codes_match(self) -> AppSeed:
        for code, prop in self.properties.items():
            if prop.get("code", code) != code:
                raise ValueError(f"app {self.id}: property {code!r} says code {prop['code']!r}")
            if "type" not in prop:
                raise ValueError(f"app {self.id}: property {code!r} has no type")
        return self


class UserSeed(_Strict):
    """A cybozu.com user, as the User API `users.json` shows them, plus a password."""

    code: str
    name: str
    password: str = ""
    id: int | None = None
    valid: bool = True
    administrator: bool = False
    """A cybozu.com administrator may call the User API write endpoints."""
    surName: str = ""  # noqa: N815 - the User API's own key
    givenName: str = ""  # noqa: N815
    email: str = ""
    locale: str = "auto"
    timezone: str = "Asia/Tokyo"
    description: str = ""
    phone: str = ""
    organizations: list[str] = []
    groups: list[str] = []


class OrganizationSeed(_Strict):
    """A department."""

    code: str
    name: str
    parentCode: str | None = None  # noqa: N815
    description: str = ""


class GroupSeed(_Strict):
    """A group (role)."""

    code: str
    name: str
    type: Literal["static", "dynamic"] = "static"
    description: str = ""


class OAuthClientSeed(_Strict):
    """An OAuth client registered on the domain."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    user: str | None = None
    """The user who approves the consent screen; the first valid user when unset."""


class Latency(_Strict):
    """Time added to each answer so timed runs resemble a real Kintone."""

    per_request_ms: float = 0.0
    per_record_ms: float = 0.0
    """Per record written or read by the request (a bulkRequest counts all its sub-requests)."""


class Options(_Strict):
    """Switches for behaviour the Kintone docs leave open; each default is the stricter reading.

    docs/emulator.md lists each switch with its sources.
    """

    subtable_omitted_subfields: Literal["clear", "keep"] = "clear"
    """An id-matched subtable row that leaves a subfield out: clear it (what users are told) or
    keep it (what has been observed)."""
    legacy_520: bool = False
    """Answer GAIA_IA02, GAIA_IL23, GAIA_SI01 and GAIA_LO04 with HTTP 520 as Kintone once did."""
    auth_precedence: Literal["password", "token"] = "password"
    """Which credential wins when a request carries both a password and API tokens."""
    basic_auth: str | None = None
    """"user:password" to demand an extra Basic auth layer, as a protected domain does."""
    update_key_in_record: Literal["reject", "ignore"] = "reject"
    """An upsert or update whose `record` also sets the updateKey field: refuse it, or ignore it."""
    concurrency_limit: int = Field(default=100, ge=1)
    max_cursors: int = Field(default=10, ge=1)
    cursor_ttl_seconds: float = 600.0
    latency: Latency = Latency()
    seed_random: int = 0
    """Seed of the random fault generator."""
    fault_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    """Share of requests answered by a random transient fault (503, 429 GAIA_TO04, GAIA_DA02)."""
    number_digits: int = Field(default=30, ge=1, le=30)
    """An app's "Total Number of Digits" (1-30); the default is the widest an app allows."""
    number_decimal_places: int = Field(default=10, ge=0, le=10)
    """An app's "Number of Decimal Places to Round" (0-10); NUMBER values hold at most
    `number_digits - number_decimal_places` digits before the point."""
    number_excess_decimals: Literal["reject", "round", "keep"] = "reject"
    """A NUMBER value with more decimal places than that: refuse it, round it half to even, or
    store it as sent."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Largest request body (JSON or form) the emulator reads; larger ones answer 413."""
    max_file_bytes: int = Field(default=1024**3, ge=1024)
    """Largest file upload; Kintone's documented limit is 1 GB per file."""

    @model_validator(mode="after")
    def _precision(self) -> Options:
        if self.number_decimal_places > self.number_digits:
            raise ValueError("number_decimal_places cannot exceed number_digits")
        return self


class Seed(_Strict):
    """Everything a domain holds when the emulator starts."""

    apps: list[AppSeed] = []
    users: list[UserSeed] = []
    organizations: list[OrganizationSeed] = []
    groups: list[GroupSeed] = []
    oauth_clients: list[OAuthClientSeed] = []
    options: Options = Options()

    @model_validator(mode="after")
    def _unique_ids(self) -> Seed:
        seen: set[int] = set()
        for app in self.apps:
            if app.id in seen:
                raise ValueError(f"app id {app.id} is declared twice")
            seen.add(app.id)
        users = [u.code for u in self.users]
        if len(users) != len(set(users)):
            raise ValueError("a user code is declared twice")
        return self


class SeedError(Exception):
    """A seed file that cannot be read; the message names the file, the key and the problem."""


def load_seed(path: str | Path) -> Seed:
    """Read and validate a seed file (YAML or JSON).

    Raises:
        SeedError: the file is missing, not YAML, or does not match the seed model.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML: {exc}") from exc
    try:
        return Seed.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SeedError(f"{path}: {problems}") from exc
