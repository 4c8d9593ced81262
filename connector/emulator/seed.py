"""The emulator's seed file and switches: pydantic models for what a Kintone domain holds."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from .params import is_plain_json
from .schema import AppSchema, FieldType

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
    space: int | None = None
    """A regular (non-guest) space the app sits in: `spaceId` in `app.json`, normal paths."""
    properties: dict[str, dict[str, Any]]
    """Field definitions, exactly as `GET /k/v1/app/form/fields.json` returns `properties`."""
    layout: list[dict[str, Any]] | None = None
    """As `app/form/layout.json` returns `layout`; built from `properties` when left out."""
    status: dict[str, Any] | None = None
    """Process management, as `GET /k/v1/app/status.json` returns it; disabled when unset."""
    tokens: list[TokenSeed] = []
    user_rights: dict[str, list[Right]] | None = None
    """Rights per user code for password and OAuth access; every user has every right if unset."""
    records: list[dict[str, Any]] = []
    """Records in the write shape, `{field_code: {"value": ...}}`, added in order at start."""

    @field_validator("properties")
    @classmethod
    def _form(cls, properties: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        check_properties(properties)
        try:
            AppSchema.from_properties(properties)
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"the form cannot be read: {exc}") from None
        return properties


def check_properties(properties: Mapping[str, Any], table: str | None = None) -> None:
    """Check field properties as `fields.json` gives them; the message names the key and fix.

    Raises:
        ValueError: a property without `code` or `type`, an unknown type, a bound that is not a
            number, or a malformed table, options or lookup.
    """
    for key, prop in properties.items():
        here = f"{table}.fields.{key}" if table else key
        if not isinstance(prop, Mapping):
            raise ValueError(f"property {here!r} must be a mapping such as {{type: NUMBER}}")
        if "code" not in prop:
            raise ValueError(f"property {here!r} has no code; add `code: {key}` to it")
        if prop["code"] != key:
            raise ValueError(
                f"property {here!r} says code {prop['code']!r}; a property's code must be its key"
            )
        if "type" not in prop:
            raise ValueError(f"property {here!r} has no type; add one, e.g. `type: NUMBER`")
        kind = prop["type"]
        if kind not in _TYPES:
            close = difflib.get_close_matches(str(kind), _TYPES, n=1)
            hint = f"did you mean {close[0]}?" if close else f"use one of {', '.join(_TYPES)}"
            raise ValueError(f"property {here!r} has unknown type {kind!r}; {hint}")
        for name in ("minLength", "maxLength"):
            value = prop.get(name)
            if value not in (None, "") and not str(value).isdecimal():
                raise ValueError(f"property {here!r}: {name} {value!r} must be a whole number")
        for name in ("minValue", "maxValue"):
            value = prop.get(name)
            if value not in (None, "") and not _NUMBER.fullmatch(str(value)):
                raise ValueError(f"property {here!r}: {name} {value!r} must be a number")
        if not isinstance(prop.get("options") or {}, Mapping):
            raise ValueError(f"property {here!r}: options must map each option to its label")
        _check_lookup(here, prop.get("lookup"))
        if kind == "SUBTABLE":
            if table is not None:
                raise ValueError(f"property {here!r}: a table cannot hold another table")
            inner = prop.get("fields")
            if not isinstance(inner, Mapping) or not inner:
                raise ValueError(f"table {here!r} needs `fields:`, a mapping of its fields")
            check_properties(inner, table=key)


def _check_lookup(here: str, lookup: Any) -> None:
    if lookup in (None, {}):
        return
    fix = "lookup needs relatedApp: {app: N}, relatedKeyField and fieldMappings"
    if not isinstance(lookup, Mapping):
        raise ValueError(f"property {here!r}: {fix}")
    related = lookup.get("relatedApp")
    app = related.get("app") if isinstance(related, Mapping) else None
    if not str(app).isascii() or not str(app).isdigit() or len(str(app)) > 18:
        raise ValueError(f"property {here!r}: {fix}; relatedApp.app must be an app id")
    if not isinstance(lookup.get("relatedKeyField"), str):
        raise ValueError(f"property {here!r}: {fix}; relatedKeyField must be a field code")
    mappings = lookup.get("fieldMappings")
    if not isinstance(mappings, list) or not all(
        isinstance(m, Mapping)
        and isinstance(m.get("field"), str)
        and isinstance(m.get("relatedField"), str)
        for m in mappings
    ):
        raise ValueError(
            f"property {here!r}: {fix}; fieldMappings is a list of {{field, relatedField}}"
        )


_TYPES = [t.value for t in FieldType]
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


Service = Literal["kintone", "garoon", "office", "mailwise", "secure_access"]


class MembershipSeed(_Strict):
    """A department a user belongs to, with the user's job title there."""

    orgCode: str  # noqa: N815 - the User API's own key
    titleCode: str | None = None  # noqa: N815


class UserSeed(_Strict):
    """A cybozu.com user as the User API `users.json` shows them, plus a password.

    Text fields left unset are `null` in answers, as the User type documents.
    """

    code: str
    name: str
    password: str = ""
    id: int | None = Field(default=None, ge=1)
    valid: bool = True
    administrator: bool = False
    """A cybozu.com administrator may call the User API write endpoints."""
    surName: str | None = None  # noqa: N815 - the User API's own key
    givenName: str | None = None  # noqa: N815
    surNameReading: str | None = None  # noqa: N815
    givenNameReading: str | None = None  # noqa: N815
    localName: str | None = None  # noqa: N815
    localNameLocale: str | None = None  # noqa: N815
    email: str | None = None
    locale: str = "auto"
    timezone: str = "Asia/Tokyo"
    description: str | None = None
    phone: str | None = None
    mobilePhone: str | None = None  # noqa: N815
    extensionNumber: str | None = None  # noqa: N815
    callto: str | None = None
    url: str | None = None
    employeeNumber: str | None = None  # noqa: N815
    birthDate: str | None = None  # noqa: N815
    joinDate: str | None = None  # noqa: N815
    primaryOrganization: str | None = None  # noqa: N815
    """An organization code (answers show the organization's id)."""
    sortOrder: int | None = None  # noqa: N815
    customItemValues: dict[str, str] = {}  # noqa: N815
    """Custom item code -> value; every code must be in the seed's `custom_items`."""
    services: list[Service] = ["kintone"]
    organizations: list[str | MembershipSeed] = []
    """Organization codes, or `{orgCode, titleCode}` for a department with a job title."""
    groups: list[str] = []


class OrganizationSeed(_Strict):
    """A department; a parent must come before its children."""

    code: str
    name: str
    localName: str | None = None  # noqa: N815
    localNameLocale: str | None = None  # noqa: N815
    parentCode: str | None = None  # noqa: N815
    description: str = ""


class GroupSeed(_Strict):
    """A group (role); a dynamic group's members come from the seed only."""

    code: str
    name: str
    type: Literal["static", "dynamic"] = "static"
    description: str = ""


class TitleSeed(_Strict):
    """A job title users hold in a department (`titleCode` in `userOrganizations.json`)."""

    code: str
    name: str
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
    default_language: Literal["en", "ja"] = "en"
    """Language of error messages when neither the user's locale nor `Accept-Language` says."""
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
    number_excess_decimals: Literal["reject", "round", "keep"] = "keep"
    """A NUMBER value with more decimal places than that: store it as sent, refuse it, or round
    it half to even (docs/emulator.md: the API's behaviour is undocumented)."""
    max_url_bytes: int = Field(default=8192, ge=256)
    """Longest request URL; Kintone answers "Request URL Too Large" past 8 KB, which is why
    clients send long reads as POST with `X-HTTP-Method-Override: GET`."""
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    """Largest request body (JSON or form) the emulator reads; larger ones answer 413."""
    max_file_bytes: int = Field(default=1024**3, ge=1024)
    """Largest file upload; Kintone's documented limit is 1 GB per file."""
    user_update_omitted: Literal["clear", "keep"] = "clear"
    """`PUT /v1/users.json`: a user field left out is cleared (what the docs do not rule out)
    or kept as it is (the 2020-06 `locale` fix suggests this)."""
    org_delete_with_members: Literal["refuse", "detach"] = "refuse"
    """`DELETE /v1/organizations.json` of an organization (or a child) that has members:
    refuse it, or delete it and leave its members without it (undocumented)."""

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
    titles: list[TitleSeed] = []
    custom_items: list[str] = []
    """The codes of the domain's custom user items (`customItemValues`)."""
    oauth_clients: list[OAuthClientSeed] = []
    options: Options = Options()

    @model_validator(mode="after")
    def _unique_ids(self) -> Seed:
        seen: set[int] = set()
        for app in self.apps:
            if app.id in seen:
                raise ValueError(f"app id {app.id} is declared twice")
            seen.add(app.id)
        for kind, codes in (
            ("user", [u.code for u in self.users]),
            ("organization", [o.code for o in self.organizations]),
            ("group", [g.code for g in self.groups]),
            ("title", [t.code for t in self.titles]),
            ("custom item", self.custom_items),
        ):
            twice = sorted({c for c in codes if codes.count(c) > 1})
            if twice:
                raise ValueError(f"{kind} code {twice[0]!r} is declared twice")
        return self

    @model_validator(mode="after")
    def _known_codes(self) -> Seed:
        orgs: set[str] = set()
        for org in self.organizations:
            if org.parentCode is not None and org.parentCode not in orgs:
                raise ValueError(
                    f"organization {org.code!r}: parentCode {org.parentCode!r} is not declared "
                    "before it; declare the parent first"
                )
            orgs.add(org.code)
        groups = {g.code for g in self.groups}
        titles = {t.code for t in self.titles}
        for user in self.users:
            where = f"user {user.code!r}"
            for item in user.organizations:
                member = item if isinstance(item, MembershipSeed) else MembershipSeed(orgCode=item)
                if member.orgCode not in orgs:
                    raise ValueError(f"{where}: organization {member.orgCode!r} is not declared")
                if member.titleCode is not None and member.titleCode not in titles:
                    raise ValueError(f"{where}: title {member.titleCode!r} is not declared")
            if user.primaryOrganization is not None and user.primaryOrganization not in orgs:
                raise ValueError(f"{where}: primaryOrganization is not a declared organization")
            for group in user.groups:
                if group not in groups:
                    raise ValueError(f"{where}: group {group!r} is not declared")
            for item in user.customItemValues:
                if item not in self.custom_items:
                    raise ValueError(f"{where}: custom item {item!r} is not in custom_items")
        return self


class SeedError(Exception):
    """A seed file that cannot be read; the message names the file, the key and the problem."""


def load_seed(path: str | Path) -> Seed:
    """Read and validate a seed file (YAML or JSON).

    Raises:
        SeedError: the file is missing, not YAML, or does not match the seed model; the one-line
            message names the file, the place (`apps[0].properties`) and the fix.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed file: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise SeedError(f"{path}: not a text file; a seed is YAML in UTF-8") from None
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML: {_yaml_problem(exc)}") from exc
    except RecursionError:
        raise SeedError(f"{path}: the YAML nests too deep") from None
    if not is_plain_json(data, max_depth=200):
        raise SeedError(f"{path}: a text holds a lone surrogate (\\ud800-\\udfff); remove it")
    try:
        return Seed.model_validate(data)
    except ValidationError as exc:
        raise SeedError(f"{path}: {describe(exc)}") from exc


def describe(exc: ValidationError) -> str:
    """A pydantic error in one line: `apps[0].properties: property 'qty' has no code; ...`."""
    problems = []
    for err in exc.errors():
        place = ""
        for part in err["loc"]:
            place += f"[{part}]" if isinstance(part, int) else f".{part}" if place else str(part)
        message = err["msg"].removeprefix("Value error, ")
        problems.append(f"{place or '(top)'}: {message}")
    return "; ".join(problems)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}{problem}"
