"""Every platform the lab can simulate: platform name -> its twin. One line per platform."""

from __future__ import annotations

from lab import cisco_ios
from lab.twin import TwinKind

TWINS: dict[str, TwinKind] = {twin.platform: twin for twin in (cisco_ios.TWIN,)}
