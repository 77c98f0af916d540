"""A console form checked by the API's own request schema: the same bounds, and a refusal
that says the same words as the API's 422 (`api.errors.field_errors`), shown at its field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from api.errors import field_errors
from controller.errors import Invalid

Model = TypeVar("Model", bound=BaseModel)


class FormErrors(Exception):
    """The fields at fault and why, as the API's 422 lists them (`loc`, `msg`, `type`)."""

    def __init__(self, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__("; ".join(f"{_field(e)}: {e['msg']}" for e in errors or []))
        self.errors = list(errors or [])

    def __bool__(self) -> bool:
        return bool(self.errors)

    def at(self, name: str) -> list[str]:
        """What is wrong with the field `name`."""
        return [e["msg"] for e in self.errors if _field(e) == name]

    def listed(self) -> list[str]:
        """Every error as `field: why`."""
        return [f"{_field(e)}: {e['msg']}" if _field(e) else e["msg"] for e in self.errors]

    @classmethod
    def of(cls, exc: Invalid) -> FormErrors:
        return cls([{"loc": [exc.field or ""], "msg": str(exc), "type": exc.kind}])


def _field(error: Mapping[str, Any]) -> str:
    """The field an error is about: the first named step of its location (`effective_until`
    for a body field, the model's own checks at the whole form)."""
    names = [part for part in error.get("loc", ()) if isinstance(part, str) and part != "body"]
    return names[0] if names else ""


def checked(model: type[Model], entered: Mapping[str, str]) -> Model:
    """The form as `model`, empty fields left out (their defaults apply); FormErrors if the
    schema refuses it."""
    try:
        return model.model_validate({k: v for k, v in entered.items() if v != ""})
    except ValidationError as exc:
        raise FormErrors(field_errors(exc.errors())) from None
