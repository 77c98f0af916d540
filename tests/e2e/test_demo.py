"""`curfew demo` runs the night on lab routers and checks itself."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from api.demo import Expectation, _check
from controller.store import Store
from lab.freeradius import unavailable_reason
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab


def test_demo_prints_the_night_and_exits_zero():
    curfew = Path(sys.executable).with_name("curfew")
    result = subprocess.run([str(curfew), "demo"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "order revoked" in result.stdout
    assert "verified cut" in result.stdout and "verified open" in result.stdout
    # the city's routers carry 16 expected changes; where FreeRADIUS is installed, its two BNGs'
    # subscribers add 3 (a curfew cut and restored, an around-the-clock cut)
    expected = 16 if unavailable_reason() else 19
    assert f"all {expected} expected cuts and restores happened and verified" in result.stdout
    if not unavailable_reason():
        assert "2 BNGs with 4 subscribers through FreeRADIUS" in result.stdout
    # the demo signs its log with a key of its own and verifies it against the outside copies
    assert "records verify against" in result.stdout and "signed checkpoints" in result.stdout
    assert "copies kept outside the database" in result.stdout
    for platform in ("cisco_ios", "huawei_vrp", "h3c_comware", "juniper_junos", "arista_eos"):
        assert f"({platform})" in result.stdout, f"the demo city runs {platform}"


def test_the_demo_check_reports_a_missing_cut(city_store: Store):
    missing = Expectation("网吧 One", "cut", datetime(2026, 11, 25, tzinfo=SHANGHAI))
    problems = _check(city_store, [missing], read_devices=False)
    assert problems == ["网吧 One: no verified cut at 00:00", "0 cuts were made, expected 1"]
