"""What the API answers when it refuses: bounded request bodies (413), field errors that name the
field and the reason without repeating what was sent (422), the domain's refusals (the tree of
`controller.errors`, each with its status, in one handler), and the OpenAPI schema of each.

A refusal is small whatever the request was: no input, no `ctx`, no pattern, a capped list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, TypeAdapter

from api.auth import PUBLIC
from controller.bounds import reason
from controller.errors import CurfewError, Invalid

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_FIELD_ERRORS = 50  # a 422 lists at most this many fields
MAX_MESSAGE = 300  # characters of one reason
MAX_LOC_PART = 64  # characters of one step of a field's location (a key sent may be long)


# -- the bodies of refusals, as the OpenAPI schema states them --------------------------------


class FieldError(BaseModel):
    """One field at fault: where (`["body", "venues", 0, "region"]`), why, and the kind of
    refusal (`not_found` and `inconsistent`: what no schema can state)."""

    loc: list[str | int]
    msg: str
    type: str


class ImportProblems(BaseModel):
    """An inventory document whose rows are well formed but do not fit together or with the
    store (a line on an unknown venue, an interface its platform does not have, …)."""

    message: str
    problems: list[str]


class ValidationFailed(BaseModel):
    """422: the fields at fault and why (never the values sent)."""

    detail: list[FieldError] | ImportProblems | str


class ConflictDetail(BaseModel):
    message: str
    existing_id: int


class Refused(BaseModel):
    """400, 401, 403, 404, 409, 413: why, in words (a duplicate order: also the existing id)."""

    detail: str | ConflictDetail


def _response(description: str, model: type[BaseModel] = Refused) -> dict[str, Any]:
    return {"model": model, "description": description}


# For the routes whose request can meet a state that forbids it.
CONFLICT = {409: _response("the record's state forbids it (e.g. revoking a revoked order)")}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reason(error: Mapping[str, Any]) -> str:
    return _clip(reason(error), MAX_MESSAGE)


def field_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Errors as the API shows them: the location and the reason, never the input."""
    shown = [
        {
            "loc": [
                part if isinstance(part, int) else _clip(str(part), MAX_LOC_PART)
                for part in error.get("loc", ())
            ],
            "msg": _reason(error),
            "type": _clip(str(error.get("type", "value_error")), MAX_LOC_PART),
        }
        for error in errors[:MAX_FIELD_ERRORS]
    ]
    if len(errors) > MAX_FIELD_ERRORS:
        more = len(errors) - MAX_FIELD_ERRORS
        shown.append({"loc": ["body"], "msg": f"and {more} more", "type": "too_many_errors"})
    return shown


async def validation_failed(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": field_errors(exc.errors())}, status_code=422)


def _where(request: Request, field: str) -> str:
    """Where the route takes `field` from: "path", "query" or (any other) "body"."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    for where in ("path", "query"):
        if any(p.alias == field for p in getattr(dependant, f"{where}_params", ())):
            return where
    return "body"


async def curfew_error(request: Request, exc: Exception) -> JSONResponse:
    """A refusal of the domain, answered with its kind's status: an `Invalid` value that names
    its field as the fields at fault (the shape of the schema's own 422s), any other with its
    `detail` (the message; a duplicate order adds the existing id)."""
    assert isinstance(exc, CurfewError)
    if isinstance(exc, Invalid) and exc.field is not None:
        where = _where(request, exc.field)
        at_fault = {"loc": (where, exc.field), "msg": str(exc), "type": exc.kind}
        return JSONResponse({"detail": field_errors([at_fault])}, status_code=exc.status)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status)


# -- request bodies: refused past a size, before they are read whole ----------------------------


class BodyLimit:
    """ASGI middleware: a body larger than the limit for its path is answered 413. A declared
    Content-Length over it is refused before a byte is read; a streamed body is counted and
    cut off at the first chunk past it (the app then sees the client gone)."""

    def __init__(self, app: ASGIApp, limit: int, limits: Mapping[str, int]) -> None:
        self.app, self.limit, self.limits = app, limit, dict(limits)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(scope["path"], self.limit)
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None:
            if not declared.isdigit():
                await _answer(send, 400, "Content-Length must be a number of bytes")
                return
            if int(declared) > limit:
                await _answer(send, 413, _too_large(limit))
                return
        received, refused, started = 0, False, False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _answer(send, 413, _too_large(limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has gone out: what the app answers to a vanished body is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not refused:
                raise


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes (CURFEW_MAX_BODY_BYTES)"


async def _answer(send: Send, status: int, detail: str) -> None:
    body = JSONResponse({"detail": detail}).body
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# -- the OpenAPI schema: every refusal an operation can give, with its body ---------------------

_REFERENCE = "#/components/schemas/{model}"


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(model).json_schema(ref_template=_REFERENCE)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": _REFERENCE.format(model=model.__name__)}


def _content(reference: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": reference}}


def _refusal(description: str, content: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": content}


NO_TOKEN = "no token, or an unknown, revoked or expired one"
NOT_ALLOWED = "the role may not, or a bureau outside its jurisdiction or on another's order"
NO_RECORD = "no such record (in the path, or named by a parameter)"
TOO_LARGE = "a body larger than the limit (CURFEW_MAX_BODY_BYTES)"


def document_refusals(schema: dict[str, Any]) -> dict[str, Any]:
    """Add to each operation the refusals it can answer, each with the body it carries:
    401/403/404 behind a token, 400/413 where a body is sent, and 422 as `ValidationFailed`.
    Public operations need no token: their `security` goes."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    refused = _content(_schema_of(Refused, components))
    failed = _content(_schema_of(ValidationFailed, components))
    for model in ("HTTPValidationError", "ValidationError"):  # FastAPI's, replaced by ours
        components.pop(model, None)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if (method.upper(), path) in PUBLIC:
                operation.pop("security", None)
            else:
                responses.setdefault("401", _refusal(NO_TOKEN, refused))
                responses.setdefault("403", _refusal(NOT_ALLOWED, refused))
                responses.setdefault("404", _refusal(NO_RECORD, refused))
            if "requestBody" in operation:
                responses.setdefault("400", _refusal("a body that is not JSON text", refused))
                responses.setdefault("413", _refusal(TOO_LARGE, refused))
            if "422" in responses:
                responses["422"] = _refusal("the fields at fault and why", failed)
    return schema


def install(app: FastAPI, max_body_bytes: int, limits: Mapping[str, int]) -> None:
    """Bounded bodies, field errors without the input, the domain's refusals with their
    statuses, and a schema that says so."""
    app.add_exception_handler(RequestValidationError, validation_failed)
    app.add_exception_handler(CurfewError, curfew_error)
    app.add_middleware(BodyLimit, limit=max_body_bytes, limits=limits)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_refusals(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
