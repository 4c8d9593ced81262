"""Limits and faults: the concurrency limit, latency, scripted and random faults, request counts."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import threading
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any, Literal

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import CATALOG, ApiError, api_error
from .params import parse_json
from .seed import Options

# Transient faults the random generator picks from (docs/kintone-api.md §8: lock errors and 429 are
# retried by the official tools; 503 is what a maintenance window answers, with a non-JSON body).
_RANDOM_KINDS: tuple[dict[str, Any], ...] = (
    {"status": 503},
    {"code": "GAIA_TO04"},
    {"code": "GAIA_DA02"},
    {"drop": "before"},
    {"drop": "after"},
)


class DroppedConnection(httpx.RemoteProtocolError):
    """The emulator hung up without a complete answer.

    Behind uvicorn the client sees the socket close mid-response. In-process, starlette's
    TestClient re-raises the app's exception, so it is raised as the transport error an httpx
    client would get from a real dropped connection.
    """


class QuietDrops(logging.Filter):
    """Keeps uvicorn from logging a traceback for every scripted dropped connection."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, DroppedConnection)


logging.getLogger("uvicorn.error").addFilter(QuietDrops())


@dataclass
class FaultRule:
    """A scripted fault: which calls it hits and what they get instead of the answer.

    `path` matches the end of the request path or a glob (`bulkRequest.json`,
    `/k/v1/records.json`, `*`). The first `after` matching calls pass; the next `times` calls
    (0: all of them) get the fault. A fault is an HTTP `status` with Kintone `code` and
    `message` (a non-JSON body when no code is given), or a dropped connection: `before` the
    request is processed, or `after` it was (the write happened, the answer is lost).
    """

    path: str
    method: str | None = None
    status: int | None = None
    code: str | None = None
    message: str | None = None
    drop: Literal["before", "after"] | None = None
    after: int = 0
    times: int = 1
    retry_after: int | None = None
    """Seconds for a `Retry-After` header on the fault's answer."""
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        """Check every field, so a bad rule is refused when it is added, not on every call.

        Raises:
            ValueError: a field of the wrong kind or out of range; the message names it.
        """
        if not isinstance(self.path, str) or not 0 < len(self.path) <= MAX_TEXT:
            raise ValueError("path must be a non-empty text, e.g. path=bulkRequest.json")
        if self.method is not None:
            if not isinstance(self.method, str) or self.method.upper() not in _METHODS:
                raise ValueError(f"method must be one of {', '.join(_METHODS)}")
            self.method = self.method.upper()
        if self.status is not None and (not _is_int(self.status) or not 400 <= self.status <= 599):
            raise ValueError("status must be an HTTP error status, a whole number 400-599")
        if self.code is not None and (
            not isinstance(self.code, str) or not _CODE.fullmatch(self.code)
        ):
            raise ValueError("code must be a Kintone error code such as GAIA_DA02")
        if self.message is not None and (
            not isinstance(self.message, str) or len(self.message) > MAX_TEXT
        ):
            raise ValueError(f"message must be a text of at most {MAX_TEXT} characters")
        if self.drop not in (None, "before", "after"):
            raise ValueError(f"drop must be before or after, not {self.drop!r}")
        if self.drop is None and self.status is None and self.code is None:
            raise ValueError("a fault needs status=, code= or drop=")
        if self.code is not None and self.code not in CATALOG and self.status is None:
            raise ValueError(f"unknown code {self.code}: give status= as well")
        for name in ("after", "times", "retry_after"):
            value = getattr(self, name)
            if value is None and name == "retry_after":
                continue
            if not _is_int(value) or not 0 <= value <= MAX_COUNT:
                raise ValueError(f"{name} must be a whole number from 0 to {MAX_COUNT}")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        pattern = self.path
        return (
            path == pattern
            or path.endswith("/" + pattern.lstrip("/"))
            or fnmatchcase(path, pattern)
        )

    def error(self) -> ApiError | None:
        """The error this fault answers with; None for a bare status or a dropped connection."""
        if self.code is None:
            return None
        if self.code in CATALOG:
            err = api_error(self.code, **_blank_values(self.code))
        else:
            err = ApiError(self.code, self.message or "Injected fault.", self.status or 500)
        if self.status is not None:
            err.status = self.status
        if self.message is not None:
            err.message = self.message
        if self.retry_after is not None:
            err.headers["Retry-After"] = str(self.retry_after)
        return err


MAX_TEXT = 1000
MAX_COUNT = 10**9
_METHODS = ("GET", "POST", "PUT", "DELETE")
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


RULE_KEYS = frozenset(
    {"path", "method", "status", "code", "message", "drop", "after", "times", "retry_after"}
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _blank_values(code: str) -> dict[str, str]:
    import string

    names = [n for _, n, _, _ in string.Formatter().parse(CATALOG[code][1]) if n]
    return {n: "" for n in names}


class Faults:
    """The scripted rules and the seeded random fault generator."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.rules: list[FaultRule] = []
        self.random = random.Random(options.seed_random)
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> None:
        with self._lock:
            self.rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.random = random.Random(self.options.seed_random)

    def pick(self, method: str, path: str) -> FaultRule | None:
        """The fault this call gets, if any; counts the call against every matching rule."""
        with self._lock:
            chosen = None
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                live = rule.times == 0 or rule.fired < rule.times
                if chosen is None and rule.seen > rule.after and live:
                    rule.fired += 1
                    chosen = rule
            rate = self.options.fault_rate
            if chosen is None and rate > 0 and self.random.random() < rate:
                chosen = FaultRule(path=path, **self.random.choice(_RANDOM_KINDS))
            return chosen

    async def record_latency(self, records: int) -> None:
        """Per-record latency, once a call knows how many records it moved."""
        per_record = self.options.latency.per_record_ms
        if per_record > 0 and records > 0:
            await asyncio.sleep(per_record * records / 1000)


class Stats:
    """Request counts: HTTP requests by endpoint and status, API calls and records per app."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.endpoints: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.apps: dict[int, Counter[str]] = {}
        self.daily: dict[int, Counter[str]] = {}
        """API calls per app per UTC day, the figure Kintone's 10,000-a-day limit counts."""
        self.records: Counter[str] = Counter()
        self.max_running = 0
        """The most `/k/` requests in flight at once."""

    def http(self, method: str, path: str, status: int) -> None:
        """One HTTP request as it left the emulator."""
        self.endpoints[f"{method} {_endpoint(path)}"] += 1
        self.statuses[str(status)] += 1

    def count(self, method: str, api: str, apps: tuple[int, ...], records: int) -> None:
        """One API call (a bulkRequest's sub-requests each count) and the records it moved.

        Kintone counts requests per app per day and reports the figure without enforcing it
        (docs/kintone-api.md §3); `apps` holds the app the call touched.
        """
        key = f"{method} {api}"
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        for app in apps:
            self.apps.setdefault(app, Counter())[key] += 1
            self.daily.setdefault(app, Counter())[today] += 1
        self.records[key] += records

    def report(self) -> dict[str, Any]:
        return {
            "requests": sum(self.endpoints.values()),
            "endpoints": dict(self.endpoints),
            "statuses": dict(self.statuses),
            "apps": {
                str(app): {
                    "requests": sum(calls.values()),
                    "calls": dict(calls),
                    "daily": dict(self.daily.get(app, {})),
                }
                for app, calls in sorted(self.apps.items())
            },
            "records": dict(self.records),
            "max_running": self.max_running,
        }


def _endpoint(path: str) -> str:
    """`/k/guest/7/v1/records.json` -> `/k/v1/records.json`, so guest calls count together."""
    parts = path.split("/")
    if len(parts) > 4 and parts[1] == "k" and parts[2] == "guest":
        return "/k/" + "/".join(parts[4:])
    return path


class LimitsMiddleware:
    """Kintone's concurrency limit, latency and injected faults around every `/k/` request,
    and every cybozu.com User API (`/v1/`) request."""

    def __init__(self, app: ASGIApp, faults: Faults, stats: Stats, options: Options) -> None:
        self.app = app
        self.faults = faults
        self.stats = stats
        self.options = options
        self.running = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(("/k/", "/v1/")):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        status = {"value": 0}

        async def counted(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["value"] = message["status"]
                headers = list(message.get("headers", []))
                headers += [
                    (b"x-concurrencylimit-limit", str(self.options.concurrency_limit).encode()),
                    (b"x-concurrencylimit-running", str(self.running).encode()),
                ]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._serve(scope, receive, counted, method, path)
        finally:
            self.stats.http(method, path, status["value"])

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> None:
        if self.running >= self.options.concurrency_limit:
            await _answer(send, api_error("GAIA_TO04"))
            return
        self.running += 1
        self.stats.max_running = max(self.stats.max_running, self.running)
        try:
            if self.options.latency.per_request_ms > 0:
                await asyncio.sleep(self.options.latency.per_request_ms / 1000)
            rule = self.faults.pick(method, path)
            if rule is None:
                await self.app(scope, receive, send)
            elif rule.drop == "before":
                await _drop(send)
            elif rule.drop == "after":

                async def swallow(message: Message) -> None:
                    return None

                await self.app(scope, receive, swallow)
                await _drop(send)
            else:
                err = rule.error()
                if err is None:
                    await _plain(send, rule.status or 503)
                else:
                    await _answer(send, err)
        finally:
            self.running -= 1


async def _answer(send: Send, err: ApiError) -> None:
    headers = dict(err.headers)
    if err.status == 429:
        headers["X-Cybozu-Error"] = err.code
    response = JSONResponse(err.body(), status_code=err.status, headers=headers)
    await response({"type": "http"}, _no_receive, send)


async def _plain(send: Send, status: int) -> None:
    # Maintenance and gateway errors come as HTML, not Kintone JSON (docs/kintone-api.md §8).
    body = f"<html><body><h1>{status} Service Unavailable</h1></body></html>".encode()
    response = Response(body, status_code=status, media_type="text/html")
    await response({"type": "http"}, _no_receive, send)


async def _drop(send: Send) -> None:
    # Promise a body and stop short: behind uvicorn the socket closes mid-answer.
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise DroppedConnection("the emulator dropped the connection (scripted fault)")


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def routes(faults: Faults, stats: Stats) -> list[Route]:
    """`/_emulator/stats` and `/_emulator/faults`."""

    async def get_stats(request: Request) -> Response:
        if request.method == "DELETE":
            stats.reset()
            return JSONResponse({})
        return JSONResponse(stats.report())

    async def fault_rules(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({})
        if request.method == "POST":
            try:
                spec = parse_json(await request.body())
                unknown = sorted(set(spec) - RULE_KEYS)
                if unknown:
                    raise ValueError(
                        f"unknown key {unknown[0]!r}; keys: {', '.join(sorted(RULE_KEYS))}"
                    )
                rule = FaultRule(**spec)
            except ApiError:
                return JSONResponse(
                    {"message": "bad fault rule: the body must be a JSON object"}, status_code=400
                )
            except (ValueError, TypeError) as exc:
                return JSONResponse({"message": f"bad fault rule: {exc}"}, status_code=400)
            faults.add(rule)
        return JSONResponse({"rules": [asdict(rule) for rule in faults.rules]})

    return [
        Route("/_emulator/stats", get_stats, methods=["GET", "DELETE"]),
        Route("/_emulator/faults", fault_rules, methods=["GET", "POST", "DELETE"]),
    ]
