"""The USER schema's tables: what each one writes, its fields and their documented limits.

Sources: the cybozu.com User API pages listed in docs/user-api.md (add users, update users,
organizations, userOrganizations, user/groups, users/services).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class UserTable(StrEnum):
    """A table of the USER schema, named as in a mapping file's `user_table:`."""

    USERS = "users"
    ORGANIZATIONS = "organizations"
    USER_ORGANIZATIONS = "user_organizations"
    USER_GROUPS = "user_groups"
    USER_SERVICES = "user_services"


class Kind(StrEnum):
    TEXT = "text"
    DATE = "date"
    BOOL = "bool"
    INTEGER = "integer"
    LOCALE = "locale"
    NAME_LOCALE = "name_locale"
    TIMEZONE = "timezone"


@dataclass(frozen=True)
class Column:
    """One writable item of a table: its kind, its documented length limit, whether required."""

    kind: Kind
    max_length: int | None = None
    required: bool = False
    """Required on insert (POST); an empty value refuses the row."""
    not_blank: bool = False
    """Refused when empty or only spaces, even where not required (PUT name)."""


LOCALES = frozenset({"ja", "en", "zh", "zh-TW", "es", "pt-BR", "th"})
"""`localNameLocale` values; `locale` also takes `auto` (add users / update users)."""
PASSWORD = "password"
VALID = "valid"
CUSTOM_PREFIX = "custom."
"""`custom.<item code>` in a mapping file: a cybozu.com custom item, sent in customItemValues."""
KEY = "code"
"""Every USER table is keyed by a code: the login name, or the organization code."""

USER_FIELDS: dict[str, Column] = {
    KEY: Column(Kind.TEXT, 128, required=True),
    "name": Column(Kind.TEXT, 128, required=True, not_blank=True),
    PASSWORD: Column(Kind.TEXT, 64, required=True),
    VALID: Column(Kind.BOOL),
    "surName": Column(Kind.TEXT, 64),
    "givenName": Column(Kind.TEXT, 64),
    "surNameReading": Column(Kind.TEXT, 64),
    "givenNameReading": Column(Kind.TEXT, 64),
    "localName": Column(Kind.TEXT, 128),
    "localNameLocale": Column(Kind.NAME_LOCALE),
    "locale": Column(Kind.LOCALE),
    "timezone": Column(Kind.TIMEZONE),
    "description": Column(Kind.TEXT, 1000),
    "phone": Column(Kind.TEXT, 100),
    "mobilePhone": Column(Kind.TEXT, 100),
    "extensionNumber": Column(Kind.TEXT, 100),
    "email": Column(Kind.TEXT, 256),
    "callto": Column(Kind.TEXT, 256),
    "url": Column(Kind.TEXT, 256),
    "employeeNumber": Column(Kind.TEXT, 100),
    "birthDate": Column(Kind.DATE),
    "joinDate": Column(Kind.DATE),
    "primaryOrganization": Column(Kind.TEXT),
    "sortOrder": Column(Kind.INTEGER),
}
ORGANIZATION_FIELDS: dict[str, Column] = {
    KEY: Column(Kind.TEXT, required=True),
    "name": Column(Kind.TEXT, required=True, not_blank=True),
    "localName": Column(Kind.TEXT),
    "localNameLocale": Column(Kind.NAME_LOCALE),
    "parentCode": Column(Kind.TEXT),
    "description": Column(Kind.TEXT),
}
MEMBER_FIELDS: dict[str, Column] = {KEY: Column(Kind.TEXT, 128, required=True)}
"""The parent row of a membership table: the user's login name."""


@dataclass(frozen=True)
class ListShape:
    """A membership table: the list the API replaces whole for one user, item by item."""

    item_fields: dict[str, Column]
    identity: str
    """The item field that identifies an item in the list (what a job owns)."""


LISTS: dict[UserTable, ListShape] = {
    UserTable.USER_ORGANIZATIONS: ListShape(
        {"orgCode": Column(Kind.TEXT, required=True), "titleCode": Column(Kind.TEXT)}, "orgCode"
    ),
    UserTable.USER_GROUPS: ListShape({"groupCode": Column(Kind.TEXT, required=True)}, "groupCode"),
    UserTable.USER_SERVICES: ListShape({"service": Column(Kind.TEXT, required=True)}, "service"),
}


def fields_of(table: UserTable) -> dict[str, Column]:
    """The fields a mapping file may map for a table (custom items aside)."""
    if table is UserTable.USERS:
        return USER_FIELDS
    if table is UserTable.ORGANIZATIONS:
        return ORGANIZATION_FIELDS
    return MEMBER_FIELDS
