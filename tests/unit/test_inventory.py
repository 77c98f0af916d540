"""Inventory import: every identifier that could reach a device is validated, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from controller.inventory import InventoryError, import_document, import_file
from controller.store import Store


def test_a_valid_inventory_imports_and_reimport_updates(store: Store, small_city: dict):
    report = import_document(store, small_city, "city.yaml")
    assert report.created == {"authorities": 1, "devices": 1, "venues": 2, "lines": 2}
    lines = {ln.name: ln for ln in store.lines()}
    assert [str(p) for p in lines["R1-L1"].prefixes] == ["198.18.1.0/24", "2001:db8:1:1::/64"]
    small_city["lines"][0]["interface"] = "GigabitEthernet0/9"
    again = import_document(store, small_city, "city.yaml")
    assert again.updated["lines"] == 2 and not again.created
    assert {ln.name: ln.interface for ln in store.lines()}["R1-L1"] == "GigabitEthernet0/9"


@pytest.mark.parametrize(
    ("section", "index", "key", "value", "reason"),
    [
        ("lines", 0, "interface", "GigabitEthernet0/1\nreload", "not a valid cisco_ios interface"),
        (
            "lines",
            0,
            "interface",
            "GigabitEthernet0/1 ; shutdown",
            "not a valid cisco_ios interface",
        ),
        ("lines", 0, "interface", "Gi0/1", "not a valid cisco_ios interface"),
        ("lines", 0, "prefixes", ["198.18.1.1/24"], "has host bits set"),
        ("lines", 0, "prefixes", ["0.0.0.0/0"], "would cut every address"),
        ("lines", 0, "prefixes", ["198.18.1.0/24\nend"], "does not appear to be"),
        ("lines", 0, "prefixes", [], "at least 1 item"),
        ("lines", 0, "venue", "Nowhere", "no venue 'Nowhere'"),
        ("lines", 0, "device", "R9", "no device 'R9'"),
        ("lines", 0, "name", "R1-L1\nexit", "printable characters on one line"),
        ("venues", 0, "name", "网吧\r\nconfigure terminal", "printable characters on one line"),
        ("venues", 0, "zone", "Mars/Olympus", "not an IANA time zone"),
        ("devices", 0, "name", "R1\nreload", "device name"),
        ("devices", 0, "platform", "cisco_xr", "unknown platform"),
        ("devices", 0, "host", "127.0.0.1; rm -rf /", "neither an IP address nor a host name"),
        ("devices", 0, "port", 70000, "less than or equal to 65535"),
        ("devices", 0, "options", {"transport": "https\nreload"}, "must be 1-64"),
        ("devices", 0, "options", {"Bad Key": "x"}, "option name"),
    ],
)
def test_a_bad_row_is_rejected_with_row_and_reason_and_nothing_is_imported(
    store: Store, small_city: dict, section, index, key, value, reason
):
    small_city[section][index][key] = value
    with pytest.raises(InventoryError) as caught:
        import_document(store, small_city, "city.yaml")
    message = str(caught.value)
    assert "city.yaml" in message
    assert f"{section}[{index}]" in message
    assert reason in message
    # all or nothing: not even the good rows landed
    assert store.devices() == [] and store.venues() == [] and store.lines() == []


def test_two_lines_cannot_share_a_prefix(store: Store, small_city: dict):
    small_city["lines"][1]["prefixes"] = ["198.18.1.0/24"]
    with pytest.raises(InventoryError, match="already belongs to line 'R1-L1'"):
        import_document(store, small_city, "city.yaml")


def test_every_problem_is_reported_at_once(store: Store, small_city: dict):
    small_city["lines"][0]["interface"] = "bad name"
    small_city["lines"][1]["prefixes"] = ["not-a-prefix"]
    with pytest.raises(InventoryError) as caught:
        import_document(store, small_city, "city.yaml")
    assert len(caught.value.problems) == 2


def test_credentials_may_be_named_by_reference_never_by_variable(store: Store, small_city: dict):
    device = small_city["devices"][0]
    del device["password"]
    device["password_ref"] = "r1.password"
    import_document(store, small_city, "city.yaml")
    stored = store.devices()[0]
    assert stored.password == "" and stored.password_ref == "r1.password"
    del device["password_ref"]
    with pytest.raises(InventoryError, match="password or password_ref needed"):
        import_document(store, small_city, "again.yaml")
    device["password_env"] = "CURFEW_R1_PASSWORD"
    with pytest.raises(InventoryError, match="password_env is refused.*password_ref"):
        import_document(store, small_city, "again.yaml")


def test_import_file_reports_unreadable_yaml(store: Store, tmp_path: Path, small_city: dict):
    broken = tmp_path / "broken.yaml"
    broken.write_text("devices: [unclosed", encoding="utf-8")
    with pytest.raises(InventoryError, match="cannot read"):
        import_file(store, broken)
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(small_city, allow_unicode=True), encoding="utf-8")
    assert import_file(store, good).created["lines"] == 2


def test_device_options_reach_the_driver_as_settings(store: Store, small_city: dict):
    small_city["devices"][0]["options"] = {"transport": "https", "revert_in": "120"}
    import_document(store, small_city, "city.yaml")
    assert store.devices()[0].options == {"revert_in": "120", "transport": "https"}


def test_an_import_is_logged_with_who_what_and_moved_lines(store: Store, small_city: dict):
    import_document(store, small_city, "city.yaml", "noc:alice")
    small_city["lines"][0]["interface"] = "GigabitEthernet0/9"
    import_document(store, small_city, "city.yaml", "noc:bob")
    records = [c for c in store.changes() if c.action == "inventory_imported"]
    assert [r.actor for r in records] == ["noc:alice", "noc:bob"]
    first, second = (json.loads(r.detail) for r in records)
    assert first["source"] == "city.yaml" and first["created"]["lines"] == 2
    assert second["lines_moved"] == ["R1-L1"], "a line moved to another port is named"


def test_an_import_whose_record_cannot_be_written_imports_nothing(
    store: Store, small_city: dict, monkeypatch: pytest.MonkeyPatch
):
    from controller import changelog

    monkeypatch.setattr(changelog, "append_in", lambda *_: (_ for _ in ()).throw(OSError("io")))
    with pytest.raises(OSError):
        import_document(store, small_city, "city.yaml")
    monkeypatch.undo()
    assert store.devices() == [] and store.lines() == [] and store.changes() == []
    assert import_document(store, small_city, "city.yaml").created["lines"] == 2
