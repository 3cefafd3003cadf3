"""How an API operation is declared, checked and described: one `Operation` per method and
path, with pydantic models for its query, body and answer. The router checks the token, the
role and the inputs before the handler runs, and the OpenAPI document is made from the same
declarations, so the schema cannot drift from what the code accepts and answers."""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from bot.web.base import MAX_ID, now, record_id, services
from storage import accounts
from storage.accounts import AccountInfo

log = logging.getLogger(__name__)
PREFIX = "/api/v1"
PROBLEM = "application/problem+json"
MAX_BODY = 16 * 1024
KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")  # a catalog key in a path


class Problem(BaseModel):
    """An error (RFC 9457)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str = ""


def problem(status: int, title: str, detail: str = "", **headers: str) -> web.Response:
    body = Problem(title=title, status=status, detail=detail).model_dump_json()
    return web.Response(status=status, text=body, content_type=PROBLEM, headers=headers)


class Refused(Exception):
    """An operation cannot be done as asked: the answer's status and words."""

    def __init__(self, status: int, title: str, detail: str = ""):
        super().__init__(title)
        self.status, self.title, self.detail = status, title, detail


@dataclass
class Call:
    """One request as a handler sees it: checked inputs and the token's account."""

    request: web.Request
    account: AccountInfo
    path: dict[str, Any]  # {id}: an int; other names: a catalog key
    query: Any
    body: Any

    @property
    def svc(self):  # the application's Services
        return services(self.request)


Handler = Callable[[Call], Awaitable[BaseModel]]


@dataclass
class Operation:
    method: str
    path: str  # under PREFIX, with {name} for integer path parameters
    name: str  # operationId
    summary: str
    handler: Handler
    response: type[BaseModel]
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    status: int = 200
    admin: bool = False
    tag: str = ""
    errors: tuple[int, ...] = (400, 401, 403, 404)


@dataclass
class Api:
    operations: list[Operation] = field(default_factory=list)

    def add(self, op: Operation) -> None:
        self.operations.append(op)

    def mount(self, app: web.Application, keys: dict[str, list[str]] | None = None) -> None:
        """Routes and the document; keys: the deployment's catalog (field name -> its keys,
        e.g. product -> apple, walnut...), written into the document as enums."""
        for op in self.operations:
            app.router.add_route(op.method, PREFIX + op.path, _view(op))
        document = with_enums(openapi(self), keys or {})
        text = json.dumps(document, ensure_ascii=False)

        async def spec(request: web.Request) -> web.Response:
            return web.Response(text=text, content_type="application/json")

        app.router.add_get(PREFIX + "/openapi.json", spec)


# cursors ------------------------------------------------------------------------------------
def cursor(value: int | None) -> str | None:
    """An opaque cursor for the next page (the last id seen)."""
    return None if value is None else base64.urlsafe_b64encode(f"id:{value}".encode()).decode()


def after(raw: str | None) -> int | None:
    """The id a cursor stands for; Refused(400) for one this API did not make."""
    if not raw:
        return None
    try:
        kind, _, value = base64.urlsafe_b64decode(raw.encode()).decode().partition(":")
        if kind != "id" or record_id(value) is None:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "Bad cursor", "use the `next` value of a previous page") from None
    return record_id(value)


# the view every operation runs through ------------------------------------------------------
async def _account(request: web.Request) -> AccountInfo | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    async with services(request).db.uow() as uow:
        found = await accounts.by_token(uow, token.strip(), now())
        await uow.commit()
    return found


def _errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:1000]


def _view(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def view(request: web.Request) -> web.StreamResponse:
        found = await _account(request)
        if found is None:
            return problem(
                401,
                "Unauthorized",
                "a valid bearer token is needed",
                **{"WWW-Authenticate": "Bearer"},
            )
        if op.admin and found.role != "admin":
            return problem(403, "Forbidden", "only an admin may do this")
        if any("\x00" in v for v in request.query.values()):
            return problem(400, "Invalid request", "a query value holds a NUL character")
        try:
            path = _path(op, request)
            query = op.query.model_validate(dict(request.query)) if op.query else None
            body = await _body(op, request)
            answer = await op.handler(Call(request, found, path, query, body))
        except ValidationError as exc:
            return problem(400, "Invalid request", _errors(exc))
        except Refused as exc:
            return problem(exc.status, exc.title, exc.detail)
        return web.Response(
            status=op.status, text=answer.model_dump_json(), content_type="application/json"
        )

    return view


def _path(op: Operation, request: web.Request) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, raw in request.match_info.items():
        if name == "id":
            found = record_id(raw)
            if found is None:
                raise Refused(404, "Not found", f"no such {name}")
            values[name] = found
        elif not KEY.fullmatch(raw):
            raise Refused(404, "Not found", f"no such {name}")
        else:
            values[name] = raw
    return values


async def _body(op: Operation, request: web.Request) -> Any:
    if op.body is None:
        return None
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refused(413, "Body too large")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise Refused(413, "Body too large")
    if request.content_type != "application/json":
        raise Refused(415, "Unsupported media type", "send application/json")
    if b"\x00" in raw or b"\\u0000" in raw.lower():
        raise Refused(400, "Invalid request", "a value holds a NUL character")
    try:
        return op.body.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        raise Refused(400, "Invalid request", _errors(exc)) from None


# the OpenAPI document -----------------------------------------------------------------------
def openapi(api: Api) -> dict[str, Any]:
    """OpenAPI 3.1 from the operations' models (JSON Schema 2020-12, as pydantic writes it)."""
    models: list[tuple[type[BaseModel], Any]] = [(Problem, "serialization")]
    for op in api.operations:
        models.append((op.response, "serialization"))
        if op.body is not None:
            models.append((op.body, "validation"))
    keys, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for op in api.operations:
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "tags": [op.tag] if op.tag else [],
            "parameters": _parameters(op),
            "responses": {
                str(op.status): {
                    "description": "OK",
                    "content": {
                        "application/json": {"schema": keys[(op.response, "serialization")]}
                    },
                },
                **{
                    str(code): {
                        "description": _DESCRIPTIONS.get(code, "error"),
                        "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                    }
                    for code in sorted({*op.errors, 401, 400} | ({413, 415} if op.body else set()))
                },
            },
        }
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": keys[(op.body, "validation")]}},
            }
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "farmchat API",
            "version": "1",
            "description": "Prices, broadcasts, listings, orders, users and conversations of "
            "a farmchat market. Authenticate with `Authorization: Bearer <token>` (made by an "
            "admin: `farmchat admin token NAME`).",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def with_enums(document: dict[str, Any], keys: dict[str, list[str]]) -> dict[str, Any]:
    """The catalog's keys as enums wherever a field or path parameter of that name takes a key
    (what the models check against the running catalog, answering 404 for another)."""

    def visit(node: Any, name: str | None = None) -> None:
        if isinstance(node, dict):
            if name in keys and node.get("type") == "string" and "pattern" in node:
                node["enum"] = sorted(keys[name])
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    for field_name, schema in value.items():
                        visit(schema, field_name)
                elif key == "anyOf" and isinstance(value, list):
                    for schema in value:
                        visit(schema, name)
                else:
                    visit(value)
            if node.get("in") == "path" and node.get("name") in keys:
                node["schema"]["enum"] = sorted(keys[node["name"]])
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(document)
    return document


_DESCRIPTIONS = {
    400: "The request is not valid",
    401: "No valid bearer token",
    403: "The token's role may not do this",
    404: "Not found",
    409: "The thing is not in a state for this",
    413: "The body is too large",
    415: "The body is not JSON",
}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    for name in _path_names(op.path):
        schema = (
            {"type": "integer", "minimum": 0, "maximum": MAX_ID}
            if name == "id"
            else {"type": "string", "pattern": KEY.pattern, "maxLength": 32}
        )
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    if op.query is not None:
        query = op.query.model_json_schema()
        required = set(query.get("required", []))
        for name, prop in query.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            params.append(
                {"name": name, "in": "query", "required": name in required, "schema": prop}
            )
    return params


def _path_names(path: str) -> list[str]:
    names, rest = [], path
    while "{" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        names.append(rest[start + 1 : end])
        rest = rest[end + 1 :]
    return names
