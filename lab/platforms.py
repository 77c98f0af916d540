"""Every platform the lab can simulate: platform name -> its twin.

Every module of the `lab` package that defines a `TWIN` is a platform; discovery keeps this
file out of each new platform's change.
"""

from __future__ import annotations

import importlib
import pkgutil

import lab
from lab.twin import TwinKind

_NOT_PLATFORMS = {"cli", "platforms", "topology", "twin", "ssh"}


def _discover() -> dict[str, TwinKind]:
    found: dict[str, TwinKind] = {}
    for module_info in pkgutil.iter_modules(lab.__path__):
        if module_info.name in _NOT_PLATFORMS or module_info.name.startswith("_"):
            continue
        twin = getattr(importlib.import_module(f"lab.{module_info.name}"), "TWIN", None)
        if isinstance(twin, TwinKind):
            if twin.platform in found:
                raise RuntimeError(f"two lab twins claim platform {twin.platform!r}")
            found[twin.platform] = twin
    return dict(sorted(found.items()))


TWINS: dict[str, TwinKind] = _discover()
