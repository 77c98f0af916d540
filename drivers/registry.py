"""Platform name → driver class: the one place a device's platform picks its driver.

Every module of the `drivers` package that defines a `Driver` subclass with a `platform` is a
platform; discovery keeps this file out of each new platform's change.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import drivers
from drivers.base import Driver

_NOT_PLATFORMS = {
    "acl",
    "async_cli",
    "base",
    "cli",
    "host_keys",
    "identifiers",
    "lifecycle",
    "outcomes",
    "registry",
}


def _discover() -> dict[str, type[Driver]]:
    found: dict[str, type[Driver]] = {}
    for module_info in pkgutil.iter_modules(drivers.__path__):
        if module_info.name in _NOT_PLATFORMS or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"drivers.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Driver)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
                and isinstance(getattr(cls, "platform", None), str)
            ):
                if cls.platform in found:
                    raise RuntimeError(f"two drivers claim platform {cls.platform!r}")
                found[cls.platform] = cls
    return dict(sorted(found.items()))


DRIVERS: dict[str, type[Driver]] = _discover()


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


def session_layers(platform: str) -> tuple[str, ...]:
    """The session layers a platform's driver offers (its `session` option's values): none
    where the platform offers no choice of one."""
    layers = getattr(DRIVERS.get(platform), "session_layers", None)
    return tuple(layers) if layers else ()
