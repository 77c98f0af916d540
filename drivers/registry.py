"""Platform name → driver class: the one place a device's platform picks its driver.

Every module of the `drivers` package that defines a `Driver` subclass with a `platform` is a
platform, named as its module is; discovery keeps this file out of each new platform's change.
A platform's module is imported when its driver is first asked for, not when the registry is:
the drivers bring netmiko, NAPALM and pysnmp, a second of start-up that a command which never
talks to a router (`curfew --help`, `curfew serve` on a busy port) should not pay.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import threading
from collections.abc import Iterator, Mapping

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
    "timing",
}


def _platform_modules() -> tuple[str, ...]:
    return tuple(
        sorted(
            info.name
            for info in pkgutil.iter_modules(drivers.__path__)
            if info.name not in _NOT_PLATFORMS and not info.name.startswith("_")
        )
    )


def _driver_of(name: str) -> type[Driver]:
    """The one driver class module `drivers.<name>` defines, whose platform must be `name`."""
    module = importlib.import_module(f"drivers.{name}")
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, Driver)
        and cls.__module__ == module.__name__
        and not inspect.isabstract(cls)
        and isinstance(getattr(cls, "platform", None), str)
    ]
    if len(found) != 1:
        raise RuntimeError(f"drivers.{name} defines {len(found)} drivers; a platform has one")
    if found[0].platform != name:
        raise RuntimeError(
            f"drivers.{name} defines platform {found[0].platform!r}; a platform is named as "
            "its module is"
        )
    return found[0]


class _Drivers(Mapping[str, type[Driver]]):
    """The platforms' names, known without importing a driver; a driver's module imported on
    first look-up (once, whichever thread asks first)."""

    def __init__(self, names: tuple[str, ...]) -> None:
        self._names = names
        self._loaded: dict[str, type[Driver]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, platform: str) -> type[Driver]:
        cls = self._loaded.get(platform)
        if cls is not None:
            return cls
        if platform not in self._names:
            raise KeyError(platform)
        with self._lock:
            if platform not in self._loaded:
                self._loaded[platform] = _driver_of(platform)
            return self._loaded[platform]

    def __contains__(self, platform: object) -> bool:
        return platform in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


DRIVERS: Mapping[str, type[Driver]] = _Drivers(_platform_modules())


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
    if platform not in DRIVERS:
        return ()
    layers = getattr(DRIVERS[platform], "session_layers", None)
    return tuple(layers) if layers else ()
