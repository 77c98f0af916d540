"""What `curfew` imports before it does anything: the driver registry names every platform
without importing a driver, and the CLI starts without the device libraries (netmiko, NAPALM,
pysnmp), Alembic or the web framework, which cost it seconds on a loaded machine (`curfew serve`
on a busy port must say so within seconds)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from drivers import registry
from drivers.base import Driver

LATE = ("napalm", "netmiko", "pysnmp", "asyncssh", "alembic", "fastapi", "uvicorn")


def _modules_after(statement: str) -> set[str]:
    """The top-level modules a fresh interpreter holds after running `statement`."""
    probe = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return {name.split(".")[0] for name in json.loads(done.stdout.splitlines()[-1])}


def test_the_cli_starts_without_the_device_libraries_alembic_or_the_web_framework():
    loaded = _modules_after("import api.cli")
    assert "typer" in loaded and "sqlalchemy" in loaded  # the probe sees what is imported
    assert not loaded & set(LATE), f"imported at start-up: {sorted(loaded & set(LATE))}"


def test_asking_for_one_driver_imports_its_library_only():
    loaded = _modules_after("from drivers.registry import driver_for\ndriver_for('linux_nftables')")
    assert "netmiko" in loaded and "napalm" not in loaded and "pysnmp" not in loaded
    loaded = _modules_after("from drivers.registry import driver_for\ndriver_for('arista_eos')")
    assert "napalm" in loaded


def test_every_platform_is_named_as_its_module_and_resolves_to_its_driver():
    names = list(registry.DRIVERS)
    assert names == sorted(names) and "cisco_ios" in names and "juniper_junos" in names
    for name in names:
        cls = registry.driver_for(name)
        assert issubclass(cls, Driver) and cls.platform == name
        assert cls.__module__ == f"drivers.{name}"


def test_helper_modules_are_not_platforms():
    for helper in ("cli", "acl", "timing", "registry", "async_cli", "lifecycle", "outcomes"):
        assert helper not in registry.DRIVERS
        with pytest.raises(registry.UnknownPlatform, match="known: arista_eos"):
            registry.driver_for(helper)
    assert registry.session_layers("not_a_platform") == ()
    assert registry.session_layers("cisco_ios") == ("netmiko", "asyncssh")


def test_a_module_whose_driver_claims_another_platform_is_refused(monkeypatch):
    module = type(sys)("drivers.fake_platform")

    class Misnamed(registry.driver_for("linux_nftables")):
        platform = "something_else"

    Misnamed.__module__ = module.__name__
    module.Misnamed = Misnamed
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(RuntimeError, match="a platform is named as its module is"):
        registry._driver_of("fake_platform")
