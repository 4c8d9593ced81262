"""The emulator's ASGI app: Kintone REST routes, bulkRequest, files, and inspection endpoints."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from . import kintone_api, messages
from .errors import ApiError, api_error
from .faults import LimitsMiddleware
from .params import is_integer_text, parse_json, parse_query_string
from .seed import Options, Seed

log = logging.getLogger(__name__)


# Room for the multipart boundaries and headers around an uploaded file.
UPLOAD_OVERHEAD = 64 * 1024


class BodyTooLargeError(Exception):
    """A request body past `max_body_bytes` (`max_file_bytes` for an upload), or a URL past
    `max_url_bytes`."""

    def __init__(self, limit: int, error: ApiError | None = None) -> None:
        super().__init__(f"request over {limit} bytes")
        # The emulator's own code: Kintone documents no body limit and no answer for one.
        self.error = error or ApiError(
            "CB_TL01", f"The request body is larger than {limit} bytes.", status=413
        )


@dataclass
class Call:
    """One Kintone API call, top-level or inside a bulkRequest."""

    method: str
    api: str
    """The endpoint name without prefix and `.json`: `records`, `app/form/fields`, `file`."""
    params: dict[str, Any]
    space: int | None
    preview: bool
    principal: Any
    request: Request | None = None
    locale: str = "en"
    """The language of messages: `en` or `ja` (messages.py)."""


def split_api(path: str) -> tuple[int | None, bool, str]:
    """`/k/guest/5/v1/preview/app/form/fields.json` -> (5, True, "app/form/fields").

    Raises:
        ApiError: CB_NF01 for a path that is not a Kintone REST path.
    """
    parts = path.strip("/").split("/")
    space: int | None = None
    if len(parts) >= 4 and parts[0] == "k" and parts[1] == "guest" and parts[3] == "v1":
        if not is_integer_text(parts[2]) or parts[2].startswith("-"):
            raise api_error("CB_NF01")
        space = int(parts[2])
        rest = parts[4:]
    elif len(parts) >= 2 and parts[0] == "k" and parts[1] == "v1":
        rest = parts[2:]
    else:
        raise api_error("CB_NF01")
    preview = bool(rest) and rest[0] == "preview"
    if preview:
        rest = rest[1:]
    name = "/".join(rest)
    if not name.endswith(".json"):
        raise api_error("CB_NF01")
    return space, preview, name[: -len(".json")]


class Emulator:
    """The state behind one app instance: domain, writer, auth, limits and stats."""

    def __init__(self, seed: Seed, options: Options | None, data: Path | None) -> None:
        self.api = kintone_api.KintoneApi(seed, options or seed.options)
        self.options = self.api.options
        self.data = data
        if data is not None and data.exists():
            self.api.domain.restore(data)

    def status_of(self, err: ApiError) -> int:
        return self.api.status_of(err)

    def language(self, request: Request, principal: Any = None) -> str:
        """The language of this request's messages: the user's locale, then Accept-Language."""
        user = self.api.users.get(getattr(principal, "user", None) or "")
        return messages.choose(
            request.headers.get("accept-language"),
            user.locale if user is not None else None,
            self.options.default_language,
        )

    def error_response(self, err: ApiError, language: str = "en") -> JSONResponse:
        err = messages.localize(err, language)
        headers = dict(err.headers)
        if err.status == 429:
            headers.setdefault("X-Cybozu-Error", err.code)
        return JSONResponse(err.body(), status_code=self.status_of(err), headers=headers)

    async def kintone(self, request: Request) -> Response:
        """Every `/k/...` request: parse, authenticate, dispatch, answer Kintone's shapes."""
        language = self.language(request)
        try:
            request = self._capped(request)
            space, preview, api = split_api(request.url.path)
            method = request.method
            override = request.headers.get("x-http-method-override")
            if override is not None:
                # Only POST may carry the override, and its value is case-sensitive
                # (docs/kintone-api.md §1).
                if method != "POST" or override not in ("GET", "POST", "PUT", "DELETE"):
                    raise api_error("CB_NF01")
                method = override
            body = await request.body()
            params = parse_query_string(request.url.query)
            content_type = request.headers.get("content-type", "")
            if api == "file" and method == "POST":
                return JSONResponse(await self._upload(request, space))
            if body.strip() and not content_type.startswith("multipart/"):
                params.update(parse_json(body))
            principal = self.api.authenticate(request.headers)
            language = self.language(request, principal)
            call = Call(method, api, params, space, preview, principal, request, language)
            result, records = self.api.call(call)
            await self.api.pause(records)
            if isinstance(result, Response):
                return result
            return JSONResponse(result)
        except ApiError as err:
            return self.error_response(err, language)
        except BodyTooLargeError as err:
            return self.error_response(err.error, language)
        except Exception:  # a bug in the emulator must still answer in Kintone's shape
            log.exception("emulator error on %s %s", request.method, request.url.path)
            return JSONResponse(
                {"code": "CB_UN01", "id": "emulator", "message": "Unexpected emulator error."},
                status_code=500,
            )

    def _capped(self, request: Request) -> Request:
        """The request, reading at most the body size the options allow (413 past it).

        Kintone documents no request size limit, only 1 GB per file (docs/emulator.md); the
        bound keeps one request from filling the emulator's memory.

        Raises:
            BodyTooLargeError: a `Content-Length` past the limit; a longer body raises it when read.
        """
        if len(str(request.url).encode()) > self.options.max_url_bytes:
            # The emulator's own code: Kintone's answer is its web server's "Request URL Too Large".
            limit = self.options.max_url_bytes
            message = f"The request URL is longer than {limit} bytes; send it as POST with "
            raise BodyTooLargeError(
                limit, ApiError("CB_TL02", message + "X-HTTP-Method-Override.", status=414)
            )
        upload = request.url.path.endswith("/file.json") and request.method == "POST"
        limit = (
            self.options.max_file_bytes + UPLOAD_OVERHEAD if upload else self.options.max_body_bytes
        )
        too_large = BodyTooLargeError(limit)
        declared = request.headers.get("content-length", "")
        if is_integer_text(declared) and int(declared) > limit:
            raise too_large
        receive = request.receive
        seen = 0

        async def capped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise too_large
            return message

        return Request(request.scope, capped)

    async def _upload(self, request: Request, space: int | None) -> dict[str, Any]:
        principal = self.api.authenticate(request.headers)
        self.api.allow_files(principal, write=True)
        from .errors import invalid_one

        try:
            async with request.form(max_files=1) as form:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    raise invalid_one("file", "Required field.")
                data = await upload.read()
                name = upload.filename or "file"
                content_type = upload.content_type or "application/octet-stream"
        except HTTPException:  # starlette's answer to a malformed multipart body
            raise invalid_one("file", "Required field.") from None
        self.api.stats.count("POST", "/k/v1/file.json", (), 0)
        return {"fileKey": self.api.domain.upload(name, content_type, data)}

    # --- inspection ---------------------------------------------------------------------------

    async def inspect_records(self, request: Request) -> Response:
        """`GET /_emulator/records?app=N`: every record of an app in the read shape, no auth."""
        from .reads import render

        try:
            app = self.api.domain.app(int(request.query_params.get("app", "0")))
        except (ApiError, ValueError):
            return JSONResponse({"message": "no such app"}, status_code=404)
        return JSONResponse({"records": [render(app, r) for r in app.records.values()]})

    async def reset(self, request: Request) -> Response:
        """`POST /_emulator/reset`: back to the seed, counters and faults cleared."""
        self.api.reset()
        return JSONResponse({})

    async def save(self, request: Request) -> Response:
        """`POST /_emulator/save`: write the data file now (when started with one)."""
        if self.data is None:
            return JSONResponse({"message": "no data file configured"}, status_code=400)
        try:
            self.api.domain.save(self.data)
        except OSError as exc:
            message = f"cannot write the data file {self.data}: {exc.strerror}"
            return JSONResponse({"message": message}, status_code=500)
        return JSONResponse({})

    async def autosave(self) -> None:
        """Save the data file every second while something changed."""
        assert self.data is not None
        while True:
            await asyncio.sleep(1.0)
            if self.api.domain.dirty:
                self.save_quietly()

    def save_quietly(self) -> None:
        """Save the data file; a failure is logged in one line and tried again later."""
        assert self.data is not None
        try:
            self.api.domain.save(self.data)
        except OSError as exc:
            log.error("cannot write the emulator data file %s: %s", self.data, exc.strerror)


def create_app(
    seed: Seed,
    *,
    options: Options | None = None,
    data: Path | None = None,
) -> Starlette:
    """The emulator as an ASGI app: serve it with uvicorn or hand it to starlette's TestClient.

    `options` overrides the seed's switches; `data` is a file the domain is restored from at
    start and saved to while it runs and at shutdown.

    Raises:
        DataFileError: `data` exists but is not an emulator data file, or does not fit the seed.
        SeedError: the seed's records break the seed's own form.
    """
    emulator = Emulator(seed, options, data)
    methods = ["GET", "POST", "PUT", "DELETE"]
    routes = [
        Route("/k/{rest:path}", emulator.kintone, methods=methods),
        Route("/_emulator/records", emulator.inspect_records, methods=["GET"]),
        Route("/_emulator/reset", emulator.reset, methods=["POST"]),
        Route("/_emulator/save", emulator.save, methods=["POST"]),
        *emulator.api.extra_routes(),
    ]

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        task = asyncio.create_task(emulator.autosave()) if data is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                emulator.save_quietly()

    limits = Middleware(
        LimitsMiddleware,
        faults=emulator.api.faults,
        stats=emulator.api.stats,
        options=emulator.options,
    )
    app = Starlette(routes=routes, middleware=[limits], lifespan=lifespan)
    app.state.emulator = emulator
    return app
