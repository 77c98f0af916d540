"""Which policy governs an order: the kind's default, unless the venue's jurisdiction has its
own window in the version-controlled file `policies/jurisdictions.yaml`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

import yaml

from policies.windows import POLICIES, Policy, Window

DEFAULT_FILE = Path(__file__).with_name("jurisdictions.yaml")
_WINDOW = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")


@dataclass(frozen=True)
class Jurisdictions:
    by_region: dict[str, dict[str, Policy]] = field(default_factory=dict)

    def policy(self, kind: str, region: str | None) -> Policy:
        if kind not in POLICIES:
            raise ValueError(f"unknown order kind {kind!r}")
        if region is not None:
            chosen = self.by_region.get(region, {}).get(kind)
            if chosen is not None:
                return chosen
        return POLICIES[kind]


def _window(text: object, where: str) -> Window:
    match = _WINDOW.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{where}: window must look like '00:00-08:00', got {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    try:
        return Window(time(h1, m1), time(h2, m2))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def load_jurisdictions(path: Path = DEFAULT_FILE) -> Jurisdictions:
    document: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    regions = document.get("regions") or {}
    if not isinstance(regions, dict):
        raise ValueError(f"{path}: regions must be a mapping")
    by_region: dict[str, dict[str, Policy]] = {}
    names: set[str] = set(p.name for p in POLICIES.values())
    for region, kinds in regions.items():
        if not isinstance(kinds, dict):
            raise ValueError(f"{path}: region {region!r} must map kinds to policies")
        for kind, entry in kinds.items():
            where = f"{path}: region {region!r} {kind!r}"
            if kind not in POLICIES or POLICIES[kind].window is None:
                raise ValueError(f"{where}: only windowed kinds may be configured")
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ValueError(f"{where}: needs a name and a window")
            if entry["name"] in names:
                raise ValueError(f"{where}: policy name {entry['name']!r} is used twice")
            names.add(entry["name"])
            by_region.setdefault(str(region), {})[kind] = Policy(
                name=entry["name"],
                kind=kind,
                window=_window(entry.get("window"), where),
                description=f"{kind} window of region {region}",
            )
    return Jurisdictions(by_region)
