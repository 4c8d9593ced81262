"""Kintone REST calls over an injected httpx.Client: errors translated, calls counted, retries."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_random_exponential

from connector.errors import ConfigError, KintoneError, PermanentKintoneError, TransientKintoneError
from connector.kintone.limits import MAX_URL_LENGTH, RECORDS_PER_READ

log = logging.getLogger(__name__)
T = TypeVar("T")

# Codes that mean "try again later" (docs/kintone-api.md §3, §8): concurrency, locks, cursor
# capacity.
TRANSIENT_CODES = frozenset({"GAIA_TO04", "GAIA_DA02", "GAIA_RE18", "GAIA_TM12", "GAIA_LT01"})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry transient errors."""

    attempts: int = 6
    """Tries in all, the first included."""
    backoff_seconds: float = 0.5
    """Base of the jittered exponential backoff."""
    max_backoff_seconds: float = 30.0


DEFAULT_RETRY = RetryPolicy()


class KintoneClient:
    """The Kintone REST API of one domain (and guest space), as the connector uses it."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        guest_space: int | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] = time.sleep,
        requests_per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http
        self.clock = clock
        self.guest_space = guest_space
        self.retry = retry
        self.sleep = sleep
        self.calls: Counter[str] = Counter()
        """HTTP requests sent, by `METHOD api`, retries included."""
        self.retries = 0
        self._lock = threading.Lock()
        self._interval = 1.0 / requests_per_second if requests_per_second else 0.0
        self._next_slot = 0.0

    def path(self, api: str) -> str:
        """`records` -> `/k/v1/records.json`, or the guest-space path."""
        if self.guest_space is not None:
            return f"/k/guest/{self.guest_space}/v1/{api}.json"
        return f"/k/v1/{api}.json"

    # --- transport ----------------------------------------------------------------------------

    def call(
        self,
        method: str,
        api: str,
        params: Mapping[str, Any] | None = None,
        *,
        idempotent: bool = True,
        app: int | str | None = None,
    ) -> Any:
        """One API call, retried on transient errors.

        A call that is not `idempotent` (an insert) is retried only when Kintone provably did
        not process it: an error body with a Kintone code. A dropped connection or a bare 5xx
        is raised at once, with `ambiguous` set, for the caller to check what landed.

        Raises:
            TransientKintoneError: still failing after the last attempt, or ambiguous.
            PermanentKintoneError: an error retrying cannot fix.
        """

        return self._retried(lambda: self._send(method, api, params or {}, app), idempotent)

    def _retried(self, send: Callable[[], T], idempotent: bool) -> T:
        """`send()`, tried again on transient errors; ambiguous ones only when `idempotent`."""

        def retryable(exc: BaseException) -> bool:
            if not isinstance(exc, TransientKintoneError):
                return False
            return idempotent or not exc.ambiguous

        retrying = Retrying(
            retry=retry_if_exception(retryable),
            stop=stop_any(stop_after_attempt(self.retry.attempts), _StopWhen(self._asks_too_long)),
            wait=self._wait,
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return send()
        except TransientKintoneError as exc:
            if self._too_long(exc):
                raise self._given_up(exc) from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _too_long(self, exc: BaseException | None) -> bool:
        """Kintone asked for a longer pause (Retry-After) than max_backoff_seconds allows."""
        retry_after = exc.retry_after if isinstance(exc, KintoneError) else None
        return retry_after is not None and retry_after > self.retry.max_backoff_seconds

    def _asks_too_long(self, state: RetryCallState) -> bool:
        return self._too_long(state.outcome.exception() if state.outcome else None)

    def _given_up(self, exc: TransientKintoneError) -> TransientKintoneError:
        return TransientKintoneError(
            f"{exc.kintone_message}; Kintone asked to wait {exc.retry_after:.0f} s "
            f"(Retry-After), longer than retry.max_backoff_seconds "
            f"({self.retry.max_backoff_seconds:g} s): given up for this run, the next run "
            "sends it again",
            status=exc.status,
            code=exc.code,
            error_id=exc.error_id,
            errors=exc.errors,
            app=exc.app,
            bulk_index=exc.bulk_index,
            ambiguous=exc.ambiguous,
            retry_after=exc.retry_after,
        )

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        retry_after = exc.retry_after if isinstance(exc, KintoneError) else None
        jitter = wait_random_exponential(
            multiplier=self.retry.backoff_seconds, max=self.retry.max_backoff_seconds
        )(state)
        return max(float(retry_after), jitter) if retry_after is not None else jitter

    def _before_sleep(self, state: RetryCallState) -> None:
        with self._lock:
            self.retries += 1
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning("retrying in %.1f s after: %s", wait, exc)

    def _count(self, key: str) -> None:
        """Count a request, and wait for its slot when a requests-per-second limit is set."""
        with self._lock:
            self.calls[key] += 1
            if not self._interval:
                return
            now = self.clock()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            self.sleep(slot - now)

    def _send(self, method: str, api: str, params: Mapping[str, Any], app: Any) -> Any:
        path = self.path(api)
        self._count(f"{method} {api}")
        try:
            if method in ("GET", "DELETE"):
                query = encode_query(params)
                if method == "GET" and len(path) + len(query) + 1 > MAX_URL_LENGTH:
                    # Long reads go as POST with the override header (docs/kintone-api.md §1).
                    response = self.http.post(
                        path, json=params, headers={"X-HTTP-Method-Override": "GET"}
                    )
                else:
                    response = self.http.request(method, f"{path}?{query}" if query else path)
            else:
                response = self.http.request(method, path, json=params)
        except httpx.TransportError as exc:
            raise _transport_error(exc, f"{method} {path}", app) from exc
        if response.status_code >= 400:
            raise translate(response, app)
        return response.json() if response.content else {}

    # --- endpoints ----------------------------------------------------------------------------

    def form(self, app: int) -> dict[str, Any]:
        """`app/form/fields.json` properties."""
        body = self.call("GET", "app/form/fields", {"app": app}, app=app)
        return dict(body["properties"])

    def app_info(self, app: int) -> dict[str, Any]:
        """`app.json`."""
        return dict(self.call("GET", "app", {"id": app}, app=app))

    def find_app(self, code: str) -> int:
        """The id of the app with this app code.

        Raises:
            ConfigError: no app visible to these credentials has the code.
        """
        apps = self.call("GET", "apps", {"codes": [code]}, app=code)["apps"]
        if not apps:
            # Configuration, not Kintone (exit 2): the mapping names an app code no app has.
            raise ConfigError(
                f"no app with app code {code!r} is visible with these credentials; check the "
                "code in the app's settings, or give the app id",
                key="app",
            )
        return int(apps[0]["appId"])

    def select(
        self, app: int, condition: str | None, fields: Sequence[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record matching a condition, paged by `$id` (no cursor, no offset limit)."""
        last = 0
        while True:
            where = f"$id > {last}"
            if condition:
                where = f"({condition}) and {where}"
            params: dict[str, Any] = {
                "app": app,
                "query": f"{where} order by $id asc limit {RECORDS_PER_READ}",
            }
            if fields is not None:
                params["fields"] = sorted({*fields, "$id"})
            records = self.call("GET", "records", params, app=app)["records"]
            yield from records
            if len(records) < RECORDS_PER_READ:
                return
            last = int(records[-1]["$id"]["value"])

    def by_ids(
        self, app: int, record_ids: Sequence[int], fields: Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """The records with these ids that exist: one read per 500 ids, with no paging (an id
        is one record at most, so a read of 500 ids is complete)."""
        ids = sorted(set(record_ids))
        for start in range(0, len(ids), RECORDS_PER_READ):
            listed = ", ".join(str(i) for i in ids[start : start + RECORDS_PER_READ])
            params = {
                "app": app,
                "query": f"$id in ({listed}) limit {RECORDS_PER_READ}",
                "fields": sorted({*fields, "$id"}),
            }
            yield from self.call("GET", "records", params, app=app)["records"]

    def bulk(self, requests: Sequence[Mapping[str, Any]], *, idempotent: bool = True) -> list[Any]:
        """One bulkRequest: sub-requests run in order, all or nothing.

        Raises:
            KintoneError: with `bulk_index` set to the failing sub-request.
        """
        subs = [
            {"method": r["method"], "api": self.path(r["api"]), "payload": r["payload"]}
            for r in requests
        ]
        app = requests[0]["payload"].get("app") if requests else None
        body = self.call("POST", "bulkRequest", {"requests": subs}, idempotent=idempotent, app=app)
        return list(body["results"])

    def upload(self, name: str, data: bytes, content_type: str) -> str:
        """Upload a file; its upload key, for a FILE field of the next write."""
        path = self.path("file")

        def send() -> str:
            self._count("POST file")
            try:
                response = self.http.post(path, files={"file": (name, data, content_type)})
            except httpx.TransportError as exc:
                raise _transport_error(exc, f"uploading {name}", None) from exc
            if response.status_code >= 400:
                raise translate(response, None)
            return str(response.json()["fileKey"])

        # An upload repeated after a lost answer only leaves an unused upload key behind.
        return self._retried(send, idempotent=True)


class _StopWhen(stop_base):
    """A tenacity stop condition from a predicate on the retry state."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


def encode_query(params: Mapping[str, Any]) -> str:
    """Parameters as Kintone's query string: lists as `fields[0]=a&fields[1]=b`.

    Source: docs/kintone-api.md §1.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            pairs.extend((f"{key}[{i}]", _text(v)) for i, v in enumerate(value))
        else:
            pairs.append((key, _text(value)))
    return urlencode(pairs)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ambiguous(message: str, app: Any) -> TransientKintoneError:
    return TransientKintoneError(message, app=app, ambiguous=True)


def _transport_error(exc: httpx.TransportError, doing: str, app: Any) -> KintoneError:
    """A failure below HTTP as our error. The exception's own text is left out where it may
    repeat a header value (an API token) or a proxy URL."""
    where = _host_port(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return TransientKintoneError(f"no connection to {where} in time during {doing}", app=app)
    if isinstance(exc, httpx.TimeoutException):
        return _ambiguous(f"no answer in time from {doing}", app)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        # The request could not even be built: retrying sends the same broken request.
        return PermanentKintoneError(
            f"the request for {doing} could not be sent ({type(exc).__name__}); check base_url "
            "and that the credentials hold printable ASCII only",
            app=app,
        )
    if isinstance(exc, httpx.ProxyError):
        return TransientKintoneError(
            f"the proxy refused or failed the connection to {where} during {doing}; "
            "check the connection's proxy setting",
            app=app,
        )
    if isinstance(exc, httpx.ConnectError):
        # No connection was made, so Kintone cannot have acted: safe to repeat, even an insert.
        return TransientKintoneError(
            f"cannot connect to {where} during {doing}: {_reason(exc)}; check base_url, the "
            "proxy, and that the host answers on that port",
            app=app,
        )
    return _ambiguous(f"connection lost during {doing}: {_reason(exc)}", app)


def _host_port(exc: httpx.TransportError) -> str:
    try:
        url = exc.request.url
    except RuntimeError:  # an exception raised without its request
        return "the server"
    port = url.port or {"https": 443, "http": 80}.get(url.scheme)
    return f"{url.host}:{port}" if port else url.host


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def translate(response: httpx.Response, app: Any) -> KintoneError:
    """A Kintone error answer as our error, transient or permanent."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "results" in body and isinstance(body["results"], list):
        # A failed bulkRequest: the failing sub-request carries the error, the rest `{}`.
        for index, result in enumerate(body["results"]):
            if isinstance(result, dict) and result.get("code"):
                return _error(response, result, app, index)
    if isinstance(body, dict) and body.get("code"):
        return _error(response, body, app, None)
    # No Kintone body: a gateway or maintenance page. Kintone may or may not have acted.
    cls = TransientKintoneError if status >= 500 or status == 429 else PermanentKintoneError
    return cls(
        f"HTTP {status} without a Kintone error body",
        status=status,
        app=app,
        ambiguous=status >= 500,
        retry_after=_retry_after(response),
    )


def _error(
    response: httpx.Response, body: Mapping[str, Any], app: Any, index: int | None
) -> KintoneError:
    status = response.status_code
    code = str(body.get("code"))
    transient = status == 429 or code in TRANSIENT_CODES or status >= 500
    cls = TransientKintoneError if transient else PermanentKintoneError
    errors = {
        key: list(value.get("messages", [])) if isinstance(value, Mapping) else value
        for key, value in (body.get("errors") or {}).items()
    }
    return cls(
        str(body.get("message", "")),
        status=status,
        code=code,
        error_id=body.get("id"),
        errors=errors,
        app=app,
        bulk_index=index,
        retry_after=_retry_after(response),
    )


def _retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds; None when absent, or not a finite number of seconds."""
    value = response.headers.get("Retry-After")
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
