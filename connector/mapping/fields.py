"""Kintone field types as the connector reads them from `app/form/fields.json`."""

from __future__ import annotations

from enum import StrEnum


class FieldType(StrEnum):
    """Kintone field types; the values are the API strings."""

    SINGLE_LINE_TEXT = "SINGLE_LINE_TEXT"
    MULTI_LINE_TEXT = "MULTI_LINE_TEXT"
    RICH_TEXT = "RICH_TEXT"
    NUMBER = "NUMBER"
    CALC = "CALC"
    DATE = "DATE"
    TIME = "TIME"
    DATETIME = "DATETIME"
    CHECK_BOX = "CHECK_BOX"
    MULTI_SELECT = "MULTI_SELECT"
    RADIO_BUTTON = "RADIO_BUTTON"
    DROP_DOWN = "DROP_DOWN"
    USER_SELECT = "USER_SELECT"
    ORGANIZATION_SELECT = "ORGANIZATION_SELECT"
    GROUP_SELECT = "GROUP_SELECT"
    LINK = "LINK"
    FILE = "FILE"
    SUBTABLE = "SUBTABLE"
    RECORD_NUMBER = "RECORD_NUMBER"
    CREATOR = "CREATOR"
    MODIFIER = "MODIFIER"
    CREATED_TIME = "CREATED_TIME"
    UPDATED_TIME = "UPDATED_TIME"
    STATUS = "STATUS"
    STATUS_ASSIGNEE = "STATUS_ASSIGNEE"
    CATEGORY = "CATEGORY"
    REFERENCE_TABLE = "REFERENCE_TABLE"
    GROUP = "GROUP"
    LABEL = "LABEL"
    SPACER = "SPACER"
    HR = "HR"


# What a mapping may write (docs/kintone-api.md §5.1); SUBTABLE is built from child rows.
WRITABLE = frozenset(
    {
        FieldType.SINGLE_LINE_TEXT,
        FieldType.MULTI_LINE_TEXT,
        FieldType.RICH_TEXT,
        FieldType.NUMBER,
        FieldType.DATE,
        FieldType.TIME,
        FieldType.DATETIME,
        FieldType.CHECK_BOX,
        FieldType.MULTI_SELECT,
        FieldType.RADIO_BUTTON,
        FieldType.DROP_DOWN,
        FieldType.USER_SELECT,
        FieldType.ORGANIZATION_SELECT,
        FieldType.GROUP_SELECT,
        FieldType.LINK,
        FieldType.FILE,
    }
)
# Written when a record is added, never on update, and only with app-management rights.
INSERT_ONLY = frozenset(
    {FieldType.CREATOR, FieldType.MODIFIER, FieldType.CREATED_TIME, FieldType.UPDATED_TIME}
)
# Why the others cannot be written, for the mapping's error message.
NOT_WRITABLE = {
    FieldType.CALC: "a CALC field is computed by Kintone from other fields",
    FieldType.STATUS: "STATUS changes only through process-management actions",
    FieldType.STATUS_ASSIGNEE: "the assignee changes only through process-management actions",
    FieldType.CATEGORY: "categories cannot be set through the API",
    FieldType.RECORD_NUMBER: "Kintone numbers records itself",
    FieldType.REFERENCE_TABLE: "a related-records field only shows records of another app",
    FieldType.GROUP: "a field group only arranges the form",
    FieldType.LABEL: "a label only decorates the form",
    FieldType.SPACER: "a spacer only decorates the form",
    FieldType.HR: "a border only decorates the form",
}
# A unique key for update and upsert (docs/kintone-api.md §4.1).
KEY_TYPES = frozenset({FieldType.SINGLE_LINE_TEXT, FieldType.NUMBER})
