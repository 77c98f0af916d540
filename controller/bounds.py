"""The bounds of every value a person sends in: one-line texts, names, codes and instants.

Each bound is a length, a pattern or a range that the OpenAPI schema states too, so what is refused
is known before sending; a value outside them is a 422 naming the field, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from controller.clock import EARLIEST_YEAR, LATEST_YEAR, check_range

# Never inside a value: C0/C1 controls, line and paragraph separators, and the invisible
# format characters (zero-width, bidi overrides) that make a name read as another one.
FORBIDDEN = (
    r"\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff"
)
# Not at either end: the blanks `str.strip()` removes (the same set in every regex engine).
BLANK = r" \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
# One line of printable text without leading or trailing blanks. Written with explicit classes
# only, so Python, pydantic's Rust engine and the ECMA regexes of OpenAPI tools agree on it.
ONE_LINE = rf"^[^{FORBIDDEN}{BLANK}](?:[^{FORBIDDEN}]*[^{FORBIDDEN}{BLANK}])?$"
# A region code (a Chinese administrative division code such as 620100, or a short code).
REGION = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$"
# An IANA zone name: Area/Location, Etc/GMT+8, UTC (the longest in tzdata is 32 characters).
ZONE = r"^[A-Za-z][A-Za-z0-9_+-]{0,31}(?:/[A-Za-z0-9][A-Za-z0-9_+-]{0,31}){0,2}$"
# A document number: issuing organ, year in brackets, serial, 号 — e.g. 临兰文执发〔2018〕3号
LEGAL_BASIS = r"^[\u4e00-\u9fffA-Za-z]{1,30}[〔\[［(（](?:19|20)[0-9]{2}[〕\]］)）][0-9]{1,6}号$"
# What a date-time's year must read, for tools that only know the schema.
INSTANT_YEAR = rf"^(?:{EARLIEST_YEAR // 100}[0-9]{{2}}|{LATEST_YEAR // 100}[0-9]{{2}})-"

ONE_LINE_HELP = "one line of printable text, no leading or trailing spaces"
# What a 422 says for each pattern, instead of the pattern itself.
PATTERN_HELP = {
    ONE_LINE: "must be one line of printable text without leading/trailing spaces",
    REGION: "must be a region code: 1-32 of A-Z a-z 0-9 . _ -, starting with a letter or digit",
    ZONE: "must be an IANA time zone name, e.g. Asia/Shanghai",
    LEGAL_BASIS: "must be a document number: issuing organ, year in brackets, serial and 号, "
    "e.g. 临兰文执发〔2018〕3号",
    INSTANT_YEAR: f"must be in the years {EARLIEST_YEAR}-{LATEST_YEAR}",
}


def one_line(max_length: int, description: str = ONE_LINE_HELP, **extra: Any) -> Any:
    """A `Field` for one line of text of 1..max_length characters."""
    return Field(
        min_length=1, max_length=max_length, pattern=ONE_LINE, description=description, **extra
    )


# The 422 types of refusals that no schema can state, told apart from a value that breaks its
# own field's bounds: it names a record that does not exist, or contradicts another field or
# the record as it stands (an end before its start, an expiry already past).
NOT_FOUND, INCONSISTENT = "not_found", "inconsistent"


def inconsistent(message: str) -> PydanticCustomError:
    """Raise from a model validator: a 422 of type `inconsistent`."""
    return PydanticCustomError(INCONSISTENT, message)


def reason(error: Mapping[str, Any]) -> str:
    """What a pydantic error says, in words: a pattern's meaning rather than the pattern."""
    if error.get("type") == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern")
        return PATTERN_HELP.get(pattern, "does not have the required form")
    return str(error.get("msg", "")).removeprefix("Value error, ")


def _written(value: object) -> object:
    """An instant is written as text (or handed over as a datetime by our own code): a bare
    number would be read as seconds since 1970 and accepted as some other instant."""
    if isinstance(value, int | float | bool):
        raise ValueError("give an ISO 8601 instant with a UTC offset, e.g. 2026-11-25T00:00+08:00")
    return value


def _instant_schema() -> dict[str, Any]:
    return {
        "type": "string",
        "format": "date-time",
        "pattern": INSTANT_YEAR,
        "description": f"with a UTC offset, in the years {EARLIEST_YEAR}-{LATEST_YEAR}",
    }


# An instant a person gives: zoned, written as text, within EARLIEST_YEAR..LATEST_YEAR.
Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_written),
    AfterValidator(check_range),
    WithJsonSchema(_instant_schema()),
]

Name = Annotated[str, one_line(200)]
RegionCode = Annotated[str, Field(pattern=REGION, description="1-32 of A-Z a-z 0-9 . _ -")]

__all__ = [
    "INCONSISTENT",
    "NOT_FOUND",
    "BLANK",
    "FORBIDDEN",
    "INSTANT_YEAR",
    "LEGAL_BASIS",
    "Instant",
    "Name",
    "ONE_LINE",
    "PATTERN_HELP",
    "REGION",
    "RegionCode",
    "ZONE",
    "inconsistent",
    "one_line",
    "reason",
]
