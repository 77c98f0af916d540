"""The domain's refusals as one tree: each kind says what went wrong in the product's words and
carries the HTTP status the API answers with. The API maps the whole tree in one handler, the
CLI in one place (`error: message`, exit 2); no face maps errors one by one.

    CurfewError
    ├── NotFound      404  the record asked for does not exist
    ├── Forbidden     403  the actor may not (jurisdiction, another authority's order)
    ├── Conflict      409  the record's state forbids it (a transition, a duplicate, decided)
    ├── Invalid       422  a value refused for what no schema can state (names its field)
    └── Unavailable   503  something the request needs cannot be had now (a feed source)

Each kind keeps the built-in base the errors it replaced had (`LookupError`, `PermissionError`,
`ValueError`), so an `except ValueError` written before the tree still catches them.
"""

from __future__ import annotations

from typing import ClassVar

from controller.bounds import INCONSISTENT, NOT_FOUND


class CurfewError(Exception):
    """A refusal of the domain; `str(exc)` is the message its reader sees."""

    status: ClassVar[int] = 500  # a refusal of no kind is a bug: give it one

    @property
    def detail(self) -> object:
        """What the API answers as `detail`: the message (a kind may add fields to it)."""
        return str(self)


class NotFound(CurfewError, LookupError):
    """The record asked for (by id or name, in the path or a query) does not exist."""

    status = 404


class Forbidden(CurfewError, PermissionError):
    """The actor is known but may not do this: a venue outside its jurisdiction, an order of
    another authority, an authority it does not act for."""

    status = 403


class Conflict(CurfewError, ValueError):
    """The state of the record (or of the server) forbids it: an invalid transition, a
    duplicate, a decision already taken."""

    status = 409


class Invalid(CurfewError, ValueError):
    """A value the request carries is refused for what no schema can state: it does not fit
    another value or the store (`kind` INCONSISTENT), or names a record that does not exist
    (NOT_FOUND: an order for an unknown venue; the order is at fault, not the URL).

    `field` names the value (`"until"`, `"venue"`); the API answers a 422 at that field, in
    the query or the body, as it answers the schema's own refusals."""

    status = 422

    def __init__(self, message: str, field: str | None = None, kind: str = INCONSISTENT) -> None:
        super().__init__(message)
        self.field, self.kind = field, kind


class Unavailable(CurfewError):
    """Something the request needs cannot be had now (a source that cannot be read); the same
    request may succeed later."""

    status = 503


__all__ = [
    "INCONSISTENT",
    "NOT_FOUND",
    "Conflict",
    "CurfewError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Unavailable",
]
