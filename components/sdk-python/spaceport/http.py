"""HTTP handlers for the `spaceport:platform/http-component` world.

    from spaceport.http import IncomingHandler, Request, route  # IncomingHandler: the export

    @route("GET", "/api/:user_id/hello")
    def hello(request: Request, user_id: str) -> dict:
        return {"hello": user_id, "query": request.query_params}

A handler gets the `Request` and the route's `:name` parameters as keyword
arguments, and returns a `Response`, a JSON-serializable value (200), a
`(status, value)` pair, or `None` (204). Raise `HTTPError` for an error answer
in the platform's shape `{"error", "detail", "request_id"}`. Routes here match
the full path the host received; the manifest decides which paths reach the
component at all.

Only import this module in a component built for an HTTP world: it uses the
`wasi:http` bindings, which a `tool-only` component does not have.
"""

from __future__ import annotations

import json
import sys
import traceback
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable

from componentize_py_types import Err, Ok
from wit_world.imports import types as _http
from wit_world.imports.streams import StreamError_Closed

from ._json import dumps
from .errors import ToolError

# The largest write `blocking-write-and-flush` accepts.
_WRITE_CHUNK = 4096
# What a tool error means as an HTTP status, when a handler lets one escape.
_TOOL_ERROR_STATUS = {"invalid-arguments": 422, "not-found": 404, "unavailable": 503,
                      "unknown-tool": 404, "access-denied": 403}


@dataclass
class Request:
    """An incoming request with its body read into memory."""

    method: str
    #: The path, without the query string.
    path: str
    #: The query string without the leading `?`.
    query: str
    #: Header names lower-case; repeated headers keep their first value.
    headers: dict[str, str]
    body: bytes
    #: The route's `:name` parameters (also passed to the handler as keyword arguments).
    params: dict[str, str] = field(default_factory=dict)

    @property
    def query_params(self) -> dict[str, str]:
        """The query string decoded; a repeated key keeps its first value."""
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.query, keep_blank_values=True).items()}

    def text(self) -> str:
        """The body as UTF-8 text."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body decoded as JSON; a malformed body is answered with a 400."""
        try:
            return json.loads(self.body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPError(400, "invalid_json", f"request body is not valid JSON: {e}") from None


@dataclass
class Response:
    """A response to send."""

    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        """An `application/json` response."""
        body = dumps(value).encode()
        return cls(status, body, [("content-type", "application/json")])

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> Response:
        """A text response (pass `content_type="text/html; charset=utf-8"` for HTML)."""
        return cls(status, text.encode(), [("content-type", content_type)])


class HTTPError(Exception):
    """Answer with `status` and the body `{"error": code, "detail": detail, "request_id"}`
    (plus `headers`, e.g. `[("allow", "GET")]`)."""

    def __init__(self, status: int, code: str, detail: str = "",
                 headers: list[tuple[str, str]] | None = None) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status, self.code, self.detail = status, code, detail
        self.headers = headers or []


@dataclass
class _Route:
    methods: frozenset[str] | None  # None: any method
    segments: list[str]
    wildcard: bool
    handler: Callable


_routes: list[_Route] = []


def route(method: str | list[str], pattern: str) -> Callable[[Callable], Callable]:
    """Serve `pattern` for `method` (`"*"` for any) with the decorated function.
    Patterns use the manifest's syntax: literal segments, `:name` segments and a
    trailing `/...` wildcard (whose match is `Request.params["..."]`, starting with `/`)."""
    methods = None if method == "*" else frozenset(
        m.upper() for m in ([method] if isinstance(method, str) else method))
    wildcard = pattern == "/..." or pattern.endswith("/...")
    base = pattern[: -len("/...")] if wildcard else pattern
    segments = [s for s in base.split("/") if s]

    def register(fn: Callable) -> Callable:
        _routes.append(_Route(methods, segments, wildcard, fn))
        return fn

    return register


def handler(fn: Callable) -> Callable:
    """Serve every method and path with the decorated function (`fn(request)`)."""
    return route("*", "/...")(fn)


class IncomingHandler:
    """The `wasi:http/incoming-handler` export: componentize-py looks for a
    class of this name in the app module (`from spaceport.http import IncomingHandler`)."""

    def handle(self, request: Any, response_out: Any) -> None:
        request_id = ""
        try:
            req = _read_request(request)
            request_id = req.headers.get("x-request-id", "")
            response = _dispatch(req)
        except HTTPError as e:
            response = _error(e.status, e.code, e.detail, request_id)
            response.headers.extend(e.headers)
        except ToolError as e:
            response = _error(_TOOL_ERROR_STATUS.get(e.kind, 500), e.kind.replace("-", "_"),
                              e.message, request_id)
        except Exception as e:
            traceback.print_exc(file=sys.stderr)  # a WARN log line with the request id
            response = _error(500, "internal_error", f"{type(e).__name__}: {e}", request_id)
        _send(response, response_out)


def _dispatch(req: Request) -> Response:
    parts = [s for s in req.path.split("/") if s]
    allowed: set[str] = set()
    for r in _routes:
        params = _match(r, parts)
        if params is None:
            continue
        if r.methods is not None and req.method not in r.methods:
            allowed |= r.methods
            continue
        req.params = params
        kwargs = {k: v for k, v in params.items() if k != "..."}
        return _to_response(r.handler(req, **kwargs))
    if allowed:
        methods = ", ".join(sorted(allowed))
        raise HTTPError(405, "method_not_allowed", f"use {methods}", [("allow", methods)])
    raise HTTPError(404, "not_found", f"no route for {req.method} {req.path}")


def _match(r: _Route, parts: list[str]) -> dict[str, str] | None:
    if len(parts) < len(r.segments) or (not r.wildcard and len(parts) != len(r.segments)):
        return None
    params = {}
    for seg, part in zip(r.segments, parts, strict=False):
        if seg.startswith(":"):
            params[seg[1:]] = urllib.parse.unquote(part)
        elif seg != part:
            return None
    if r.wildcard:
        rest = parts[len(r.segments):]
        params["..."] = "/" + "/".join(rest) if rest else ""
    return params


def _to_response(value: Any) -> Response:
    if isinstance(value, Response):
        return value
    if value is None:
        return Response(204)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], int):
        status, body = value
        return body if isinstance(body, Response) else Response.json(body, status)
    return Response.json(value)


def _error(status: int, code: str, detail: str, request_id: str) -> Response:
    return Response.json({"error": code, "detail": detail, "request_id": request_id}, status)


def _read_request(incoming: Any) -> Request:
    method = incoming.method()
    name = method.value if isinstance(method, _http.Method_Other) else type(method).__name__[len("Method_"):]
    path, _, query = (incoming.path_with_query() or "/").partition("?")
    # Copy the headers out and release the handle at once: it is a child of
    # the request, and wasmtime refuses to drop a parent with live children.
    with incoming.headers() as fields:
        headers: dict[str, str] = {}
        for key, value in fields.entries():
            headers.setdefault(key.lower(), value.decode("utf-8", errors="replace"))
    body = b""
    # Spaceport buffers the body and sends its exact length: skip reading a
    # declared-empty body (most GETs).
    if headers.get("content-length", "").strip() != "0":
        chunks = []
        with incoming.consume() as incoming_body:
            with incoming_body.stream() as stream:
                while True:
                    try:
                        chunks.append(stream.blocking_read(64 * 1024))
                    except Err as e:
                        if isinstance(e.value, StreamError_Closed):
                            break
                        raise HTTPError(400, "bad_request", "reading the request body failed") from None
        body = b"".join(chunks)
    return Request(name.upper(), path, query, headers, body)


def _send(response: Response, out: Any) -> None:
    try:
        fields = _http.Fields.from_list([(n.lower(), v.encode()) for n, v in response.headers])
    except Err:
        fields = _http.Fields()  # an invalid header: send none rather than trap
    outgoing = _http.OutgoingResponse(fields)
    try:
        outgoing.set_status_code(response.status)
    except Err:
        outgoing.set_status_code(500)
    body = outgoing.body()
    _http.ResponseOutparam.set(out, Ok(outgoing))
    try:
        with body.write() as stream:
            data = response.body
            for i in range(0, len(data), _WRITE_CHUNK):
                stream.blocking_write_and_flush(data[i : i + _WRITE_CHUNK])
    except Err:
        return  # the client went away
    _http.OutgoingBody.finish(body, None)
