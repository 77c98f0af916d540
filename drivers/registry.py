"""Platform name → driver class: the one place a device's platform picks its driver.

A plain dict is enough until a third party needs to plug a driver in by entry point.
"""

from __future__ import annotations

from drivers.base import Driver
from drivers.cisco_ios import CiscoIosDriver

DRIVERS: dict[str, type[Driver]] = {
    CiscoIosDriver.platform: CiscoIosDriver,
}


class UnknownPlatform(KeyError):
    """No driver is registered for a platform name."""

    def __init__(self, platform: str) -> None:
        known = ", ".join(sorted(DRIVERS)) or "none"
        self.platform = platform
        super().__init__(f"no driver for platform {platform!r}; known: {known}")

    def __str__(self) -> str:
        # KeyError's str() would show the message in quotes
        return str(self.args[0])


def driver_for(platform: str) -> type[Driver]:
    try:
        return DRIVERS[platform]
    except KeyError:
        raise UnknownPlatform(platform) from None
