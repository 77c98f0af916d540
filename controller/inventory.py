"""Inventory import: devices, authorities, venues and lines from a YAML file, all or nothing.

Everything that will ever be rendered into a device command is validated here (interface names
per platform, prefixes with `ipaddress`, device names); a bad row is reported with the file,
the row and the reason, and nothing of that file is imported.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import select

from controller.bounds import ONE_LINE, REGION, ZONE, inconsistent, reason
from controller.credentials import ENV_PREFIX, KEYGEN_HINT, REF, check_ref
from controller.errors import Invalid
from controller.host_keys import pin
from controller.models import Authority, Device, Line, LineStatus, Venue
from controller.store import Store
from drivers.base import LineState
from drivers.host_keys import KEY_TYPES, parse_host_key
from drivers.identifiers import (
    SUBSCRIBER_USERNAME,
    IdentifierError,
    check_device_name,
    check_interface,
    check_username,
    parse_prefix,
)
from drivers.radius_nas import option_problems as nas_option_problems
from drivers.radius_nas import radius_db_query_problem
from drivers.registry import DRIVERS, session_layers
from policies import zone, zone_names

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ONE_LINE = re.compile(ONE_LINE)
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_OPTION_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}")
_OPTION_VALUE = re.compile(r"[A-Za-z0-9._:/-]{1,64}")
_USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
_OPTION_VALUE_PATTERN = f"^{_OPTION_VALUE.pattern}$"


# A radius_nas device's FreeRADIUS SQL database (options: {radius_db: URL}): an SQLAlchemy URL
# of SQLite or PostgreSQL, never with a password in it (that is the device's secret/secret_ref)
RADIUS_DB = "radius_db"
RADIUS_NAS = "radius_nas"
_RADIUS_DB_TEXT = re.compile(r"[A-Za-z0-9._:/@+%=?&-]{1,255}")
RADIUS_DB_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql", "postgresql+psycopg")


def check_radius_db(value: object) -> str:
    """A radius_db option: its URL's shape, its database kind and that it holds no password."""
    if not isinstance(value, str) or not _RADIUS_DB_TEXT.fullmatch(value):
        raise ValueError(
            f"option radius_db: {value!r} must be an SQLAlchemy URL of 1-255 of "
            "A-Z a-z 0-9 . _ : / @ + % = ? & -"
        )
    try:
        url = make_url(value)
    except ArgumentError:
        raise ValueError(f"option radius_db: {value!r} is not an SQLAlchemy URL") from None
    if url.drivername not in RADIUS_DB_DRIVERS:
        raise ValueError(
            f"option radius_db: {url.drivername!r} is not supported; use one of "
            f"{', '.join(RADIUS_DB_DRIVERS)}"
        )
    if url.password is not None:
        raise ValueError(
            "option radius_db: the URL holds a password; give it as the device's secret_ref "
            "(or secret) instead"
        )
    problem = radius_db_query_problem(url)
    if problem is not None:
        raise ValueError(f"option {problem}")
    if url.drivername.startswith("sqlite") and not url.database:
        raise ValueError("option radius_db: an SQLite URL must name a file")
    return value


# An OpenSSH public-key line's shape (whether its data is a key of that type, `parse_host_key`)
HOST_KEY_LINE = (
    rf"^(?:{'|'.join(KEY_TYPES)}) [A-Za-z0-9+/]{{1,8192}}={{0,2}}(?: [^\x00-\x1f\x7f]{{0,256}})?$"
)


# The patterns a row's validators hold, stated in the schema for the API's clients; the
# validators say what is wrong in words, so the pattern itself is not checked twice.
_DEVICE_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}"
PRINTABLE = {"pattern": r"^[^\x00-\x1f\x7f]*$"}


def stated(pattern: str) -> dict[str, str]:
    return {"pattern": pattern}


def plain_text(value: str, what: str, max_len: int = 200) -> str:
    """A human label (venue or line name): printable, one line, no leading/trailing blanks."""
    if len(value) > max_len or not _ONE_LINE.fullmatch(value):
        raise ValueError(
            f"{what} must be 1-{max_len} printable characters on one line, "
            "without leading or trailing spaces"
        )
    return value


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class DeviceRow(_Row):
    name: str = Field(max_length=63, json_schema_extra=stated(f"^{_DEVICE_NAME}$"))
    platform: str = Field(max_length=64, json_schema_extra={"enum": sorted(DRIVERS)})
    host: str = Field(
        max_length=253, description="an IP address or a host name",
        json_schema_extra={"anyOf": [{"format": f} for f in ("ipv4", "ipv6", "hostname")]},
    )  # fmt: skip
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(max_length=64, json_schema_extra=stated(f"^{_USERNAME.pattern}$"))
    # inline secrets are stored encrypted (CURFEW_SECRETS_KEY_FILE); a reference names a file
    # of CURFEW_CREDENTIALS_DIR or a CURFEW_DEVICE_SECRET_<NAME> variable (controller.credentials)
    password: str | None = Field(default=None, max_length=256, json_schema_extra=PRINTABLE)
    password_ref: str | None = Field(default=None, pattern=f"^{REF.pattern}$")
    secret: str | None = Field(default=None, max_length=256, json_schema_extra=PRINTABLE)
    secret_ref: str | None = Field(default=None, pattern=f"^{REF.pattern}$")
    # refused with a message saying what to use instead: they could name any variable
    password_env: None = Field(default=None, description="refused: use password_ref")
    secret_env: None = Field(default=None, description="refused: use secret_ref")
    # the SSH host key to pin, an OpenSSH public-key line (`ssh-ed25519 AAAA…`)
    host_key: str | None = Field(default=None, max_length=8500, pattern=HOST_KEY_LINE)
    carrier: str = Field(default="default", max_length=100, json_schema_extra=stated(ONE_LINE))
    options: dict[str, str] = Field(
        default={}, max_length=32,
        json_schema_extra={
            "patternProperties": {
                f"^{_OPTION_KEY.pattern}$": {"type": "string", "pattern": _OPTION_VALUE_PATTERN}
            },
            "additionalProperties": False,
        },
    )  # fmt: skip

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _OPTION_KEY.fullmatch(key):
                raise ValueError(f"option name {key!r} must be 1-32 of a-z, 0-9, _")
            if key == RADIUS_DB:
                check_radius_db(value)
                continue
            if not isinstance(value, str) or not _OPTION_VALUE.fullmatch(value):
                raise ValueError(f"option {key}: {value!r} must be 1-64 of A-Z a-z 0-9 . _ : / -")
        return v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_device_name(v)

    @field_validator("carrier")
    @classmethod
    def _carrier(cls, v: str) -> str:
        return plain_text(v, "carrier", 100)

    @field_validator("platform")
    @classmethod
    def _platform(cls, v: str) -> str:
        if v not in DRIVERS:
            raise ValueError(f"unknown platform {v!r}; known: {', '.join(DRIVERS)}")
        return v

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        try:
            return str(ip_address(v))
        except ValueError:
            if _HOSTNAME.fullmatch(v):
                return v
        raise ValueError(f"{v!r} is neither an IP address nor a host name")

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        if not _USERNAME.fullmatch(v):
            raise ValueError("username must be 1-64 letters, digits or . _ @ -")
        return v

    @field_validator("password_env", "secret_env", mode="before")
    @classmethod
    def _env(cls, v: object, info: ValidationInfo) -> None:
        if v is not None:
            ref = info.field_name.removesuffix("_env") + "_ref"
            raise ValueError(
                f"{info.field_name} is refused: it could name any environment variable of the "
                f"controller (its admin token, say). Name the credential with {ref}: NAME, and "
                f"put it in the file CURFEW_CREDENTIALS_DIR/NAME or the variable "
                f"{ENV_PREFIX}NAME"
            )
        return None

    @field_validator("password_ref", "secret_ref")
    @classmethod
    def _ref(cls, v: str | None) -> str | None:
        return None if v is None else check_ref(v)

    @field_validator("host_key")
    @classmethod
    def _host_key(cls, v: str | None) -> str | None:
        try:
            return None if v is None else parse_host_key(v)
        except ValueError as exc:  # of the right shape (the schema says so), not a key
            raise inconsistent(str(exc)) from None

    @field_validator("password", "secret")
    @classmethod
    def _credential(cls, v: str | None) -> str | None:
        if v is not None and _CONTROL.search(v):
            raise ValueError("must not contain control characters")
        return v


class AuthorityRow(_Row):
    name: str = Field(max_length=200, json_schema_extra=stated(ONE_LINE))
    regions: list[Annotated[str, Field(pattern=REGION)]] = Field(default=[], max_length=1000)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return plain_text(v, "authority name")

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: list[str]) -> list[str]:
        for region in v:
            plain_text(region, "region code", 32)
        return v


class VenueRow(_Row):
    name: str = Field(max_length=200, json_schema_extra=stated(ONE_LINE))
    licence: str = Field(default="", max_length=64, json_schema_extra=stated(f"^$|{ONE_LINE}"))
    zone: str = Field(
        default="Asia/Shanghai", max_length=64, description="an IANA time zone name",
        json_schema_extra={"pattern": ZONE, "enum": sorted(zone_names())},
    )  # fmt: skip
    region: str | None = Field(
        default=None, pattern=REGION, description="region code: the jurisdiction the venue is in"
    )
    address: str | None = Field(default=None, max_length=300, json_schema_extra=stated(ONE_LINE))

    @field_validator("address")
    @classmethod
    def _address(cls, v: str | None) -> str | None:
        return None if v is None else plain_text(v, "address", 300)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return plain_text(v, "venue name")

    @field_validator("licence")
    @classmethod
    def _licence(cls, v: str) -> str:
        return v and plain_text(v, "licence", 64)

    @field_validator("zone")
    @classmethod
    def _zone(cls, v: str) -> str:
        zone(v)
        return v


# Which fields each kind of line has, stated in the schema (the model validator says it in words)
_PORT_FIELDS, _SUBSCRIBER_FIELDS = ("device", "interface", "prefixes"), ("username", "nas")
_LINE_SHAPES = {
    "oneOf": [
        {
            "required": list(_PORT_FIELDS),
            "properties": {"kind": {"const": "port"}},
            "not": {"anyOf": [{"required": [f]} for f in _SUBSCRIBER_FIELDS]},
        },
        {
            "required": ["kind", *_SUBSCRIBER_FIELDS],
            "properties": {"kind": {"const": "subscriber"}},
            "not": {"anyOf": [{"required": [f]} for f in _PORT_FIELDS]},
        },
    ]
}


class LineRow(_Row):
    """A port line (`device`, `interface`, `prefixes`) or a subscriber line (`kind: subscriber`,
    `username`, `nas`): each without the other's fields."""

    model_config = ConfigDict(json_schema_extra=_LINE_SHAPES)

    # The fields of the other kind are absent, never null: typed without None, defaulting to it
    name: str = Field(max_length=200, json_schema_extra=stated(ONE_LINE))
    venue: str = Field(max_length=200, pattern=ONE_LINE)
    kind: Literal["port", "subscriber"] = "port"
    device: str = Field(default=None, max_length=63, pattern=f"^{_DEVICE_NAME}$")  # type: ignore[assignment]
    # checked per platform, and the prefixes by `ipaddress`, with the reason, when imported
    interface: str = Field(  # type: ignore[assignment]
        default=None, max_length=64, description="as the platform names it",
        json_schema_extra=stated(r"^[A-Za-z0-9_.:/-]{1,64}$"),
    )  # fmt: skip
    prefixes: list[
        Annotated[str, Field(max_length=49, json_schema_extra=stated(r"^[0-9A-Fa-f.:]+/[0-9]+$"))]
    ] = Field(default=None, min_length=1, max_length=256)  # type: ignore[assignment]
    # a subscriber: its RADIUS User-Name, and the radius_nas devices its sessions may be on
    username: str = Field(  # type: ignore[assignment]
        default=None, max_length=64, json_schema_extra=stated(f"^{SUBSCRIBER_USERNAME.pattern}$")
    )
    nas: list[Annotated[str, Field(max_length=63, pattern=f"^{_DEVICE_NAME}$")]] = Field(
        default=None, min_length=1, max_length=16, json_schema_extra={"uniqueItems": True}
    )  # type: ignore[assignment]

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return plain_text(v, "line name")

    @field_validator("username")
    @classmethod
    def _username(cls, v: str | None) -> str | None:
        try:
            return None if v is None else check_username(v)
        except IdentifierError as exc:
            raise ValueError(str(exc)) from None

    @model_validator(mode="after")
    def _shape(self) -> LineRow:
        if self.kind == "subscriber":
            extra = [f for f in ("device", "interface", "prefixes") if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"a subscriber line has no {', '.join(extra)}: it names its username and "
                    "the NAS devices (nas: [...]) its sessions may be on"
                )
            missing = [f for f in ("username", "nas") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a subscriber line needs {' and '.join(missing)}")
            if self.nas is not None and len(set(self.nas)) != len(self.nas):
                raise ValueError("nas: a NAS is named more than once")
        else:
            extra = [f for f in ("username", "nas") if getattr(self, f) is not None]
            if extra:
                raise ValueError(
                    f"{' and '.join(extra)}: only a subscriber line has them (kind: subscriber)"
                )
            missing = [f for f in ("device", "interface", "prefixes") if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a port line needs {', '.join(missing)}")
        return self


class InventoryDocument(_Row):
    """The inventory as the API receives it (the YAML file's shape): every row checked against
    its bounds here; how the rows fit together and with the store, by `import_document`."""

    authorities: list[AuthorityRow] = Field(default=[], max_length=10_000)
    devices: list[DeviceRow] = Field(default=[], max_length=10_000)
    venues: list[VenueRow] = Field(default=[], max_length=100_000)
    lines: list[LineRow] = Field(default=[], max_length=100_000)


@dataclass
class ImportReport:
    created: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)


class InventoryError(Invalid):
    """A document that is not imported: every problem, with its row and reason."""

    SHOWN, SHOWN_CHARACTERS = 50, 300  # what an API answer lists of the problems

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source, self.problems = source, problems
        shown = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s), nothing imported:\n{shown}")

    @property
    def detail(self) -> object:
        """The first line and the problems, at most SHOWN of SHOWN_CHARACTERS each."""
        limit, width = self.SHOWN, self.SHOWN_CHARACTERS
        shown = [p if len(p) <= width else p[: width - 1] + "…" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            shown.append(f"and {len(self.problems) - limit} more")
        return {"message": str(self).splitlines()[0], "problems": shown}


def _describe(error: ValidationError) -> str:
    parts = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "row"
        message = reason(err)
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def load_file(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InventoryError(str(path), [f"cannot read: {exc}"]) from None
    if not isinstance(document, dict):
        raise InventoryError(str(path), ["the file must be a mapping with devices/venues/lines"])
    return document


def import_file(
    store: Store, path: Path, actor: str = "cli", trust_new_host_keys: bool = False
) -> ImportReport:
    return import_document(store, load_file(path), str(path), actor, trust_new_host_keys)


def import_document(
    store: Store,
    document: dict[str, Any],
    source: str,
    actor: str = "cli",
    trust_new_host_keys: bool = False,
) -> ImportReport:
    """Validate every row, then write all of them and the `inventory_imported` record in one
    transaction (or none of it). With `trust_new_host_keys`, the SSH devices of this file whose
    host key is neither given nor pinned may learn it once, at their next session."""
    problems: list[str] = []
    unknown = set(document) - {"authorities", "devices", "venues", "lines"}
    if unknown:
        problems.append(f"unknown top-level keys: {', '.join(sorted(map(str, unknown)))}")

    # each parsed row's place in the file, `lines[3] ('SUB-1')`: the later checks name a row by
    # where it is in the file, not by its place among the rows that parsed
    where_of: dict[int, str] = {}

    def rows(key: str, model: type[_Row]) -> list[Any]:
        raw = document.get(key) or []
        if not isinstance(raw, list):
            problems.append(f"{key}: must be a list")
            return []
        parsed = []
        for index, item in enumerate(raw):
            label = item.get("name") if isinstance(item, dict) else None
            shown = label if not isinstance(label, str) or len(label) <= 40 else label[:40] + "…"
            where = f"{key}[{index}]" + (f" ({shown!r})" if isinstance(label, str) else "")
            if not isinstance(item, dict):
                problems.append(f"{where}: must be a mapping")
                continue
            try:
                row = model.model_validate(item)
            except ValidationError as exc:
                problems.append(f"{where}: {_describe(exc)}")
                continue
            parsed.append(row)
            where_of[id(row)] = where
        names = [r.name for r in parsed]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{key}: name {dup!r} appears more than once")
        return parsed

    authorities: list[AuthorityRow] = rows("authorities", AuthorityRow)
    devices: list[DeviceRow] = rows("devices", DeviceRow)
    venues: list[VenueRow] = rows("venues", VenueRow)
    lines: list[LineRow] = rows("lines", LineRow)

    for device in devices:
        where = where_of[id(device)]
        problems += [f"{where}: {problem}" for problem in _device_problems(store, device)]

    with store.session() as s:
        known_devices = {d.name: d for d in s.exec(select(Device))}
        known_venues = {v.name: v for v in s.exec(select(Venue))}
        known_lines = {ln.name: ln for ln in s.exec(select(Line))}
    platform_of = {name: d.platform for name, d in known_devices.items()}
    platform_of.update({d.name: d.platform for d in devices})
    radius_db_of = {name: d.options.get(RADIUS_DB) for name, d in known_devices.items()}
    radius_db_of.update({d.name: d.options.get(RADIUS_DB) for d in devices})
    owner_of_username = {
        line.username: name
        for name, line in known_lines.items()
        if name not in {ln.name for ln in lines} and line.username is not None
    }
    venue_names = set(known_venues) | {v.name for v in venues}
    file_lines = {ln.name for ln in lines}
    owner_of_prefix = {
        str(p): name
        for name, line in known_lines.items()
        if name not in file_lines
        for p in line.prefixes
    }
    line_prefixes: dict[str, list[Any]] = {}
    for line in lines:
        where = where_of[id(line)]
        if line.venue not in venue_names:
            problems.append(f"{where}: venue: no venue {line.venue!r} in this file or the store")
        if line.kind == "subscriber":
            problems += [
                f"{where}: {problem}"
                for problem in _subscriber_problems(
                    line, platform_of, radius_db_of, owner_of_username
                )
            ]
            line_prefixes[line.name] = []
            continue
        assert line.device is not None and line.interface is not None and line.prefixes
        platform = platform_of.get(line.device)
        if platform is None:
            problems.append(f"{where}: device: no device {line.device!r} in this file or the store")
        else:
            try:
                check_interface(platform, line.interface)
            except IdentifierError as exc:
                problems.append(f"{where}: interface: {exc}")
        parsed = []
        for prefix_text in line.prefixes:
            try:
                prefix = parse_prefix(prefix_text)
            except IdentifierError as exc:
                problems.append(f"{where}: prefixes: {exc}")
                continue
            owner = owner_of_prefix.setdefault(str(prefix), line.name)
            if owner != line.name:
                problems.append(f"{where}: prefixes: {prefix} already belongs to line {owner!r}")
            parsed.append(prefix)
        line_prefixes[line.name] = parsed

    for line in lines:
        # a port line on a NAS would be handed to the RADIUS driver, which knows no ports
        if line.kind == "port" and platform_of.get(line.device or "") == RADIUS_NAS:
            problems.append(
                f"{where_of[id(line)]}: device: {line.device!r} is a radius_nas: only "
                "subscriber lines (kind: subscriber) are on a NAS"
            )

    if problems:
        raise InventoryError(source, problems)
    return _write(
        store, authorities, devices, venues, lines, line_prefixes, source, actor,
        trust_new_host_keys,
    )  # fmt: skip


def _subscriber_problems(
    line: LineRow,
    platform_of: dict[str, str],
    radius_db_of: dict[str, str | None],
    owner_of_username: dict[str, str],
) -> list[str]:
    """What keeps a subscriber line from being stored: its NAS devices and its username."""
    problems = []
    assert line.username is not None and line.nas is not None
    databases = set()
    for name in line.nas:
        platform = platform_of.get(name)
        if platform is None:
            problems.append(f"nas: no device {name!r} in this file or the store")
        elif platform != RADIUS_NAS:
            problems.append(f"nas: {name!r} is a {platform} device, not a {RADIUS_NAS}")
        else:
            databases.add(radius_db_of.get(name))
    if len(databases) > 1:
        # the refusal is written in one RADIUS database: a NAS asking another would not see it
        problems.append("nas: the NAS devices of one line must share one radius_db")
    owner = owner_of_username.setdefault(line.username, line.name)
    if owner != line.name:
        problems.append(f"username: {line.username!r} already belongs to line {owner!r}")
    return problems


def _device_problems(store: Store, device: DeviceRow) -> list[str]:
    """What keeps a device row from being stored: its secrets, host key and address."""
    problems = []
    if device.platform == RADIUS_NAS:
        if RADIUS_DB not in device.options:
            problems.append(
                "options: a radius_nas needs radius_db, the SQLAlchemy URL of its FreeRADIUS "
                "SQL database (without password)"
            )
        try:
            ip_address(device.host)
        except ValueError:
            problems.append(
                "host: a radius_nas is named by its NAS-IP-Address, as accounting records it: "
                "an IP address, not a host name"
            )
        problems += [f"options: {why}" for why in nas_option_problems(device.options)]
    elif RADIUS_DB in device.options:
        problems.append(f"options: radius_db is an option of {RADIUS_NAS} devices only")
    # drivers.cli brings netmiko: imported when a device is checked, not with the CLI
    from drivers.cli import KEEPALIVE_OPTION, SESSION_OPTION, keepalive_problem

    layer = device.options.get(SESSION_OPTION)
    if layer is not None and layer not in (offered := session_layers(device.platform)):
        choice = f"one of {', '.join(offered)}" if offered else "it offers no choice of layer"
        problems.append(f"options: session {layer!r} is not offered by {device.platform}: {choice}")
    keepalive = device.options.get(KEEPALIVE_OPTION)
    if keepalive is not None and (why := keepalive_problem(str(keepalive))) is not None:
        problems.append(f"options: {why}")
    if device.password is None and device.password_ref is None:
        problems.append("password or password_ref needed")
    for name in ("password", "secret"):
        inline, ref = getattr(device, name), getattr(device, f"{name}_ref")
        if inline is not None and ref is not None:
            problems.append(f"give {name} or {name}_ref, not both")
        elif inline and store.vault.key is None:
            problems.append(
                f"an inline {name} is stored only encrypted, and no key is configured: create "
                f"one with {KEYGEN_HINT} (or name the {name} with {name}_ref)"
            )
    if device.host_key is not None and not DRIVERS[device.platform].has_host_key(device.host):
        problems.append(
            f"host_key: {device.platform} at {device.host} is not reached over SSH: there is no "
            "host key to pin"
        )
    problems += [f"host: {why}" for why in store.vault.outside(device.host)]
    database = device.options.get(RADIUS_DB)
    if database is not None:
        # its password (the device's secret) goes there: the same rule as for the NAS itself
        database_host = make_url(database).host
        if database_host:
            problems += [f"options: radius_db: {why}" for why in store.vault.outside(database_host)]
    return problems


def _write(
    store: Store,
    authorities: list[AuthorityRow],
    devices: list[DeviceRow],
    venues: list[VenueRow],
    lines: list[LineRow],
    line_prefixes: dict[str, list[Any]],
    source: str,
    actor: str,
    trust_new_host_keys: bool = False,
) -> ImportReport:
    report = ImportReport()
    moved_lines: list[str] = []
    pins: list[tuple[Device, str]] = []
    to_learn: list[str] = []
    vault = store.vault

    def count(kind: str, existed: bool) -> None:
        bucket = report.updated if existed else report.created
        bucket[kind] = bucket.get(kind, 0) + 1

    with store.transaction() as tx:
        s = tx.session
        for a in authorities:
            row = s.exec(select(Authority).where(Authority.name == a.name)).first()
            count("authorities", row is not None)
            row = row or Authority(name=a.name)
            row.regions_json = json.dumps(a.regions, ensure_ascii=False)
            s.add(row)
        for d in devices:
            row = s.exec(select(Device).where(Device.name == d.name)).first()
            count("devices", row is not None)
            row = row or Device(name=d.name, platform=d.platform, host=d.host, port=d.port,
                                username=d.username)  # fmt: skip
            row.platform, row.host, row.port, row.username = d.platform, d.host, d.port, d.username
            # nothing here is a secret in plain text: inline ones are sealed with the key
            row.password = vault.seal(d.name, "password", d.password) if d.password else ""
            row.secret = vault.seal(d.name, "secret", d.secret) if d.secret else ""
            row.password_ref, row.secret_ref = d.password_ref, d.secret_ref
            if d.host_key is not None and d.host_key != row.host_key:
                pins.append((row, d.host_key))
            elif (
                trust_new_host_keys
                and row.host_key is None
                and DRIVERS[d.platform].has_host_key(d.host)
            ):
                row.host_key_tofu_by = actor
                to_learn.append(d.name)
            row.carrier = d.carrier
            row.options_json = json.dumps(d.options, sort_keys=True)
            s.add(row)
        for v in venues:
            row = s.exec(select(Venue).where(Venue.name == v.name)).first()
            count("venues", row is not None)
            row = row or Venue(name=v.name)
            row.licence, row.zone, row.region = v.licence, v.zone, v.region
            row.address = v.address
            s.add(row)
        s.flush()
        for device, key in pins:
            pin(tx, device, key, f"inventory import ({source})", actor)
        device_ids = {d.name: d.id for d in s.exec(select(Device))}
        venue_ids = {v.name: v.id for v in s.exec(select(Venue))}
        for ln in lines:
            row = s.exec(select(Line).where(Line.name == ln.name)).first()
            count("lines", row is not None)
            subscriber = ln.kind == "subscriber"
            values: dict[str, Any] = dict(
                venue_id=venue_ids[ln.venue],
                # a subscriber line is driven through its first NAS (its RADIUS database)
                device_id=device_ids[ln.nas[0] if subscriber and ln.nas else ln.device],
                interface=ln.interface or "",
                prefixes_json=Line.encode_prefixes(line_prefixes[ln.name]),
                kind=ln.kind,
                username=ln.username,
                nas_json=json.dumps(ln.nas or []),
            )
            if row is None:
                row = Line(name=ln.name, **values)
            else:
                where_it_is = ("device_id", "interface", "prefixes_json", "kind", "username",
                               "nas_json")  # fmt: skip
                moved = any(getattr(row, key) != values[key] for key in where_it_is)
                for key, value in values.items():
                    setattr(row, key, value)
                if moved:
                    moved_lines.append(row.name)
                status = s.get(LineStatus, row.id) if moved else None
                if status is not None:
                    # The device may hold the old cut: forget what we knew, the next pass reads.
                    status.state = LineState.UNKNOWN.value
                    s.add(status)
            s.add(row)
        tx.log_admin(
            "inventory_imported",
            actor,
            detail=json.dumps(
                {"source": source, "created": report.created, "updated": report.updated,
                 "lines_moved": moved_lines}
                | ({"host_keys_to_learn": to_learn} if to_learn else {}),
                ensure_ascii=False,
            ),
        )  # fmt: skip
    return report
