"""Log lines that name their run (run id, job, app), as text or one JSON object a line, masked."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, Any

from connector.errors import KintoneError

CONTEXT = ("run_id", "job", "app")
"""What `bound` attaches to every record logged inside it."""
MASK = "***"

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "kintone_sync_log", default=MappingProxyType({})
)
_secrets: set[str] = set()
_secrets_lock = threading.Lock()


@contextmanager
def bound(**values: Any) -> Iterator[None]:
    """Inside, every log record carries these values (`run_id`, `job`, `app`).

    A context variable, so threads started inside see it only when started with a copy of the
    context (the writer's pool does that).
    """
    token = _context.set({**_context.get(), **values})
    try:
        yield
    finally:
        _context.reset(token)


def redact(value: str) -> None:
    """Mask this value in every log line from now on: a credential read from the environment.
    A defence behind the rule that no message holds a secret, not a licence to log one."""
    if len(value) >= 4:  # a one-letter "secret" would mask every such letter of every line
        with _secrets_lock:
            _secrets.add(value)


def masked(text: str) -> str:
    """Text with every registered secret and any URL password replaced."""
    from connector.source import mask_password

    with _secrets_lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for value in secrets:
        text = text.replace(value, MASK)
    return mask_password(text)


class ContextFilter(logging.Filter):
    """Copies the bound run id, job and app onto each record, and the Kintone error id of a
    KintoneError logged as an argument or an exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        if getattr(record, "error_id", None) is None:
            record.error_id = _error_id(record)
        return True


def _error_id(record: logging.LogRecord) -> str | None:
    args = record.args if isinstance(record.args, tuple) else ()
    found = [a for a in args if isinstance(a, KintoneError)]
    if record.exc_info and isinstance(record.exc_info[1], KintoneError):
        found.append(record.exc_info[1])
    return next((e.error_id for e in found if e.error_id), None)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC), level, logger, message, and run_id, job, app and
    error_id when known."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": masked(record.getMessage()),
        }
        for key in (*CONTEXT, "error_id"):
            value = getattr(record, key, None)
            if value is not None:
                data[key] = value
        if record.exc_info:
            data["traceback"] = masked(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL message [job=... app=... run=...]`, masked."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        names = {"job": "job", "app": "app", "run_id": "run", "error_id": "error id"}
        tags = [
            f"{label}={getattr(record, key)}"
            for key, label in names.items()
            if getattr(record, key, None) is not None
        ]
        return masked(f"{text} [{' '.join(tags)}]" if tags else text)


def configure(level: int, fmt: str, stream: IO[str]) -> None:
    """Send every log record at `level` or above to `stream`, as `text` or `json`, replacing
    the handlers set before (the command line calls this once per command)."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # One line per HTTP request drowns the run's own lines; retries are logged by the client.
    logging.getLogger("httpx").setLevel(logging.WARNING)
