"""Error messages in the caller's language: which language a request gets, and the Japanese text.

The Japanese messages are word for word what real domains answered, recorded with the English
ones in SonicGarden/kintone-emulator (doc/kintone-behavior-notes.md §1-§10, doc/kintone-calc-
behavior.md §6-§7, and the fixed messages its dual tests check for GAIA_IL03 and GAIA_ST02).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import ApiError

LANGUAGES = ("en", "ja")
# (English template, Japanese template); `{name}` holds a value carried over as it is.
_TEMPLATES: list[tuple[str, str]] = [
    ("Missing or invalid input.", "入力内容が正しくありません。"),
    ("Required field.", "必須です。"),
    ("Required.", "必須です。"),
    ("must be greater than or equal to 1", "最小でも1以上です。"),
    ("must be one of the enum value", "Enum値のいずれかでなければなりません。"),
    (
        "The specified record (ID: {id}) is not found.",
        "指定したレコード（id: {id}）が見つかりません。",
    ),
    (
        "The app (ID: {app}) not found. The app may have been deleted.",
        "指定したアプリ（id: {app}）が見つかりません。削除されている可能性があります。",
    ),
    (
        "The specified file (id: {key}) not found.",
        "指定したファイル（id: {key}）が見つかりません。",
    ),
    (
        "The number of concurrent API requests exceeds the limit.",
        "APIの同時リクエスト数が上限を超えています。",
    ),
    (
        "The specified comment does not exist. The comment may have been deleted.",
        "指定したコメントが存在しません。削除された可能性があります。",
    ),
    (
        "Between 1 and 100 records can be deleted at one time.",
        "一度に1件から100件までのレコードを削除できます。",
    ),
    (
        "A maximum of 100 records can be added at one time.",
        "一度に100件までのレコードを追加できます。",
    ),
    (
        "A maximum of 100 records can be updated at one time.",
        "一度に100件までのレコードを更新できます。",
    ),
    ("This value already exists in another record.", "値がほかのレコードと重複しています。"),
    ("Enter less than {n} characters.", "{n}文字より短くなければなりません。"),
    ("Enter more than {n} characters.", "{n}文字より長くなければなりません。"),
    ("The value must be {v} or less.", "{v}以下である必要があります。"),
    ("The value must be {v} or more.", "{v}以上である必要があります。"),
    ("Only numbers are allowed.", "数字でなければなりません。"),
    ('The value, "{v}", is not in options.', '"{v}"は選択肢にありません。'),
    (
        "A value {value} in the field {field} does not exist in the datasource app for lookup, or "
        "you do not have permission to view the app or the field.",
        "フィールド「{field}」の値「{value}」が、ルックアップの参照先のフィールドにないか、"
        "またはアプリやフィールドの閲覧権限がありません。",
    ),
    ("No privilege to proceed.", "権限がありません。"),
    ("offset must be 10000 or less.", "offset には 10,000 以下の値を指定してください。"),
    ("limit must be 500 or less.", "limit には 500 以下の値を指定してください。"),
    (
        "The operator ({operator}) cannot be used with the field ({field}) in a table.",
        "テーブルに設定している場合、{field}フィールドのフィールドタイプには、"
        "演算子{operator}を使用できません。",
    ),
    (
        "The operator ({operator}) cannot be used with the field ({field}).",
        "{field}フィールドのフィールドタイプには演算子{operator}を使用できません。",
    ),
    (
        'The field "{field}" has no option "{value}".',
        "フィールド「{field}」の項目に「{value}」は存在しません。",
    ),
    ("Specified field ({field}) not found.", "指定されたフィールド（{field}）が見つかりません。"),
    ("Query syntax is incorrect: {detail}", "クエリ記法が間違っています。"),
    (
        "Failed to update the status. The status or its settings may have been changed by "
        "another user.",
        "ステータスの変更に失敗しました。ほかのユーザーがステータス、"
        "またはステータスの設定を変更した可能性があります。",
    ),
    (
        "Your request failed. Process management is disabled for the app.",
        "操作に失敗しました。プロセス管理機能が無効化されています。",
    ),
    (
        "The specified field (code: {field}) is not found.",
        "指定されたフィールド（code: {field}）が見つかりません。",
    ),
    (
        'The formula of the field "{label}" is invalid. ({reason})',
        "フィールド「{label}」の計算式が正しくありません。(エラーの内容：{reason})",
    ),
    (
        "The field code ({code}) in the formula does not exist.",
        "計算式に含まれるフィールドコード（{code}）が存在しません。",
    ),
    ("The function {name} cannot be used.", "{name}関数は使用できません。"),
    ("The formula syntax is incorrect.", "計算式の文法が正しくありません。"),
    ("The field references are circular.", "フィールドの参照が循環しています。"),
    (
        "The function {name} needs at least {n} arguments.",
        "{name}関数には{n}個以上の引数が必要です。",
    ),
    ("The function {name} needs {n} arguments.", "{name}関数には{n}個の引数が必要です。"),
    (
        "The function {name} takes at most {n} arguments.",
        "{name}関数に指定できる引数は{n}個までです。",
    ),
    (
        'A full-width symbol "{c}" was entered. Enter the half-width "{h}".',
        "全角記号「{c}」が入力されています。半角記号「{h}」を入力してください。",
    ),
]


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(
        re.escape(part) if index % 2 == 0 else f"(?P<{part}>.+?)"
        for index, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$", re.DOTALL)


_JAPANESE = [(_pattern(en), ja) for en, ja in _TEMPLATES]


def japanese(message: str) -> str:
    """The Japanese text of an English message; the message itself when it has none."""
    for pattern, ja in _JAPANESE:
        match = pattern.match(message)
        if match:
            return ja.format(**{k: japanese(v) for k, v in match.groupdict().items()})
    return message


def choose(accept_language: str | None, user_locale: str | None, default: str) -> str:
    """The language of a request's messages.

    A user's own display language wins; with "auto" (follow the browser) the request's
    `Accept-Language` decides by q-value; with neither, or `*`, the domain default
    (SonicGarden/kintone-emulator, doc/kintone-behavior-notes.md §1 "ロケール切り替え").
    Languages the emulator has no messages for get English.
    """
    if user_locale and user_locale != "auto":
        return user_locale if user_locale in LANGUAGES else "en"
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((accept_language or "").split(",")):
        fields = part.strip().split(";")
        tag = fields[0].strip().lower()
        if not tag:
            continue
        q = 1.0
        for param in fields[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        ranked.append((-q, index, tag))
    for _, _, tag in sorted(ranked):
        if tag == "*":
            return default
        language = tag.split("-")[0]
        return language if language in LANGUAGES else "en"
    return default


def localize(err: ApiError, language: str) -> ApiError:
    """The error with its message and `errors` messages in `language`."""
    if language != "ja":
        return err
    errors: Mapping[str, list[str]] | None = err.errors
    return ApiError(
        code=err.code,
        message=japanese(err.message),
        status=err.status,
        errors=None if errors is None else {k: [japanese(m) for m in v] for k, v in errors.items()},
        headers=err.headers,
    )
