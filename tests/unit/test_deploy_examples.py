"""The example Prometheus rules and Grafana dashboard (api/deploy/) name only series /metrics
exposes; the rules pass `promtool check rules` where promtool is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from api.metrics import METRICS, exposed_names

DEPLOY = Path(__file__).resolve().parents[2] / "api" / "deploy"
RULES = DEPLOY / "prometheus" / "curfew-rules.yml"
DASHBOARD = DEPLOY / "grafana" / "curfew-dashboard.json"
SERIES = re.compile(r"\bcurfew_[a-z0-9_]+\b")


def named_series(expression: str) -> set[str]:
    return set(SERIES.findall(expression))


def test_every_rule_names_series_that_metrics_exposes():
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert len(rules) >= 8
    exposed = exposed_names()
    for rule in rules:
        names = named_series(rule["expr"])
        assert names, f"{rule['alert']}: names no curfew series"
        assert names <= exposed, f"{rule['alert']}: {sorted(names - exposed)} not in /metrics"
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert len({rule["alert"] for rule in rules}) == len(rules)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules():
    checked = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_panel_queries_series_that_metrics_exposes():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exposed = exposed_names()
    panels = dashboard["panels"]
    assert len(panels) >= 10
    assert len({panel["id"] for panel in panels}) == len(panels)
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = named_series(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} names no curfew series"
            assert names <= exposed, f"{panel['title']}: {sorted(names - exposed)} not in /metrics"
    used = {name for p in panels for t in p["targets"] for name in named_series(t["expr"])}
    # every series is on it, the histograms through their buckets
    histograms = {name[: -len("_bucket")] for name in exposed if name.endswith("_bucket")}
    wanted = set(METRICS) - histograms | {name + "_bucket" for name in histograms}
    assert wanted <= used, sorted(wanted - used)
