"""Issue 9, "A CLI for every job": every listing has --json, the order lifecycle through the
CLI (validated as the API validates), `token create --json`, `--version`, and the inventory
exported as the file the import accepts, with no secret in it."""

from __future__ import annotations

import copy
import json
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from controller.inventory import import_document
from controller.settings import Settings
from controller.store import Store
from tests.conftest import ADMIN_TOKEN, SMALL_CITY

runner = CliRunner()

ISSUE = [
    "orders", "issue", "--venue", "Cafe Two", "--kind", "curfew", "--reason", "unlicensed",
    "--legal-basis", "临兰文执发〔2026〕9号", "--effective-from", "2026-11-20T00:00:00+08:00",
]  # fmt: skip


@pytest.fixture
def city_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A small city in an SQLite file, named by CURFEW_DATABASE_URL as an operator would."""
    url = f"sqlite:///{tmp_path / 'curfew.db'}"
    store = Store.open(url)
    import_document(store, copy.deepcopy(SMALL_CITY), "small city")
    store.close()
    monkeypatch.setenv("CURFEW_DATABASE_URL", url)
    return url


def ok_json(*args: str) -> object:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def test_every_listing_prints_json(city_url: str) -> None:
    issued = ok_json(*ISSUE)
    assert issued["venue"] == "Cafe Two" and issued["notices"] == []
    listings = [
        ("plan", "--at", "2026-11-24T23:30:00+08:00"),
        ("changes",),
        ("inventory", "list"),
        ("orders", "list"),
        ("orders", "list", "--venue", "Cafe Two", "--status", "active"),
        ("orders", "show", str(issued["id"])),
        ("devices", "list"),
        ("token", "list"),
        ("pass", "holds"),
        ("feed", "list"),
        ("authority", "keys"),
        ("venues", "unlicensed"),
        ("venues", "list"),
    ]
    shown = {args: ok_json(*args) for args in listings}
    assert [o["id"] for o in shown["orders", "list"]] == [issued["id"]]
    assert shown["orders", "show", str(issued["id"])]["events"][0]["action"] == "issue"
    assert {d["name"] for d in shown["inventory", "list"]["devices"]} == {"R1"}
    assert shown["devices", "list"][0]["frozen"] is False
    assert "changes" in shown["plan", "--at", "2026-11-24T23:30:00+08:00"]
    for args in (("report", "timeline", "--order", str(issued["id"])),):
        result = runner.invoke(app, [*args, "--format", "json"])
        assert result.exit_code == 0, result.output
        json.loads(result.stdout)


def test_an_order_goes_through_its_life_on_the_command_line(city_url: str) -> None:
    order = ok_json(*ISSUE)
    assert order["state"] in ("in_force", "issued")
    amended = ok_json("orders", "amend", str(order["id"]), "--why", "term set",
                      "--effective-until", "2027-01-01T00:00:00+08:00")  # fmt: skip
    assert amended["supersedes_id"] == order["id"] and amended["version"] == 2
    new = str(amended["id"])
    assert ok_json("orders", "suspend", new, "--reason", "appeal")["state"] == "suspended"
    assert ok_json("orders", "resume", new, "--reason", "appeal lost")["status"] == "active"
    assert ok_json("orders", "revoke", new, "--reason", "licensed now")["state"] == "revoked"
    history = ok_json("orders", "show", new)
    actions = [e["action"] for e in history["events"]]
    assert actions == ["issue", "supersede", "amend", "suspend", "resume", "revoke"]
    again = runner.invoke(app, ["orders", "revoke", new, "--reason", "twice"])
    assert again.exit_code == 2 and "error:" in again.stderr


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"--kind": "blackout"}, "kind"),
        ({"--effective-from": "2026-11-20T00:00:00"}, "effective_from"),
        ({"--venue": "No Such Venue"}, "venue"),
        ({"--legal-basis": ""}, "legal_basis"),
    ],
)
def test_a_bad_order_exits_2_naming_the_field_and_stores_nothing(
    city_url: str, change: dict[str, str], field: str
) -> None:
    args = list(ISSUE)
    for option, value in change.items():
        args[args.index(option) + 1] = value
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert field in result.stderr and result.stdout == ""
    assert ok_json("orders", "list") == []


def test_token_create_json_gives_a_bare_token_that_authenticates(city_url: str) -> None:
    created = ok_json("token", "create", "--role", "noc", "--label", "script")
    assert set(created) == {"id", "token"}
    store = Store.open(city_url)
    settings = Settings(database_url=city_url, admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, store)) as client:
        bearer = {"Authorization": f"Bearer {created['token']}"}
        assert client.get("/api/v1/orders", headers=bearer).status_code == 200
        wrong = {"Authorization": f"Bearer {created['token']}x"}
        assert client.get("/api/v1/orders", headers=wrong).status_code == 401
    store.close()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"curfew {version('curfew')}"


def test_the_export_round_trips_through_the_import_and_holds_no_secret(
    city_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inline = runner.invoke(app, ["inventory", "export"])
    assert inline.exit_code == 0
    assert "lab-password" not in inline.stdout and "lab-enable" not in inline.stdout
    assert "enc:" not in inline.stdout and "password" not in inline.stdout
    assert "device R1: its password is stored inline" in inline.stderr

    by_reference = copy.deepcopy(SMALL_CITY)
    for device in by_reference["devices"]:
        del device["password"], device["secret"]
        device.update(password_ref="r1.password", secret_ref="r1.enable")
    source = tmp_path / "city.yaml"
    source.write_text(yaml.safe_dump(by_reference, allow_unicode=True), encoding="utf-8")
    first = f"sqlite:///{tmp_path / 'first.db'}"
    assert (
        runner.invoke(app, ["inventory", "import", str(source), "--database-url", first]).exit_code
        == 0
    )
    exported = runner.invoke(app, ["inventory", "export", "--database-url", first])
    assert exported.exit_code == 0 and exported.stderr == ""
    again = tmp_path / "exported.yaml"
    again.write_text(exported.stdout, encoding="utf-8")
    second = f"sqlite:///{tmp_path / 'second.db'}"
    imported = runner.invoke(app, ["inventory", "import", str(again), "--database-url", second])
    assert imported.exit_code == 0, imported.output
    assert runner.invoke(app, ["inventory", "export", "--database-url", second]).stdout == (
        exported.stdout
    )
    document = yaml.safe_load(exported.stdout)
    assert document["devices"][0]["password_ref"] == "r1.password"
    assert [ln["name"] for ln in document["lines"]] == ["R1-L1", "R1-L2"]


def test_inventory_verify_prints_json_even_when_a_router_cannot_be_reached(city_url: str) -> None:
    result = runner.invoke(app, ["inventory", "verify", "--json"])
    assert result.exit_code == 1  # R1 at 127.0.0.1:1 answers nothing: its lines unchecked
    checks = json.loads(result.stdout)
    assert {c["line"] for c in checks} == {"R1-L1", "R1-L2"}
    assert all(c["ok"] is None for c in checks)


def test_a_router_is_frozen_with_its_reason_and_unfrozen(city_url: str) -> None:
    frozen = runner.invoke(app, ["devices", "freeze", "R1", "--reason", "maintenance"])
    assert frozen.exit_code == 0, frozen.output
    assert ok_json("devices", "list")[0]["frozen"] is True
    (record,) = [r for r in ok_json("changes") if r["action"] == "device_frozen"]
    assert record["device_id"] == 1 and record["actor"].startswith("cli:")
    assert "maintenance" in record["detail"]
    assert runner.invoke(app, ["devices", "unfreeze", "R1"]).exit_code == 0
    assert ok_json("devices", "list")[0]["frozen"] is False
    unknown = runner.invoke(app, ["devices", "freeze", "R9", "--reason", "x"])
    assert unknown.exit_code == 2 and "no device 'R9'" in unknown.stderr


def test_format_choices_are_listed_and_checked() -> None:
    assert "table|json|csv" in runner.invoke(app, ["changes", "--help"]).stdout
    wrong = runner.invoke(app, ["report", "compliance", "--format", "pdf"])
    assert wrong.exit_code == 2 and "pdf" in wrong.output


def test_reconcile_prints_its_pass_as_json_and_its_progress_on_stderr(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    assert runner.invoke(app, ["store", "init", "--lab", "--database-url", url]).exit_code == 0
    store = Store.open(url)
    import_document(store, copy.deepcopy(SMALL_CITY), "small city")
    store.close()
    result = runner.invoke(
        app, ["reconcile", "--at", "2026-11-24T23:30:00+08:00", "--json", "--database-url", url]
    )
    assert result.exit_code == 1  # R1 at 127.0.0.1:1 answers nothing
    shown = json.loads(result.stdout)
    assert shown["ok"] is False and {c["line"] for c in shown["changes"]} == {"R1-L1", "R1-L2"}
    assert "[1/1] R1: 0 of 2 verified" in result.stderr  # not a terminal: the plain lines
