"""The licence register: imported all or nothing, replaced on re-import, and the venues without a
valid licence listed with the lines that serve them — in the store, the API and the CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from controller.inventory import import_document
from controller.licences import RegisterError, import_register, register, unlicensed
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token
from tests.conftest import ADMIN_TOKEN

ON = date(2026, 11, 25)
REGISTER = """licence,venue,valid_until,status
LIC-1,网吧 One,2027-12-31,valid
LIC-2,Cafe Two,2026-01-31,valid
LIC-3,Cafe Three,2028-06-30,revoked
LIC-9,Somewhere Else,2027-01-01,valid
"""


@pytest.fixture
def city(city_store: Store, small_city: dict) -> Store:
    """网吧 One (valid), Cafe Two (lapsed), Cafe Three (revoked), 黑网吧 (none) on R1."""
    small_city["venues"] += [
        {"name": "Cafe Three", "licence": "LIC-3", "region": "620100"},
        {"name": "黑网吧", "region": "620100", "address": "河湾路 9 号"},
    ]
    small_city["lines"] += [
        {"name": "R1-L3", "venue": "Cafe Three", "device": "R1",
         "interface": "GigabitEthernet0/3", "prefixes": ["198.18.3.0/24"]},
        {"name": "R1-L4", "venue": "黑网吧", "device": "R1",
         "interface": "GigabitEthernet0/4", "prefixes": ["198.18.4.0/24", "2001:db8:1:4::/64"]},
    ]  # fmt: skip
    import_document(city_store, small_city, "licence city")
    return city_store


def write(tmp_path: Path, text: str, name: str = "register.csv", bom: bool = False) -> Path:
    path = tmp_path / name
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def test_the_register_flags_missing_expired_and_revoked_licences(city: Store, tmp_path: Path):
    report = import_register(city, write(tmp_path, REGISTER, bom=True))
    assert (report.imported, report.replaced, report.matched_venues) == (4, 0, 3)
    assert report.unknown_venues == ["Somewhere Else"]
    flagged = {v.venue: v for v in unlicensed(city, ON)}
    assert {name: v.why for name, v in flagged.items()} == {
        "Cafe Two": "expired",
        "Cafe Three": "revoked",
        "黑网吧": "missing",
    }
    black = flagged["黑网吧"]
    assert black.licence is None and black.detail == "no licence in the register"
    (line,) = black.lines
    assert (line.line, line.device, line.interface, line.carrier) == (
        "R1-L4", "R1", "GigabitEthernet0/4", "default",
    )  # fmt: skip
    assert line.prefixes == ["198.18.4.0/24", "2001:db8:1:4::/64"]
    assert flagged["Cafe Two"].valid_until == date(2026, 1, 31)
    assert [ln.interface for ln in flagged["Cafe Three"].lines] == ["GigabitEthernet0/3"]
    changes = [c for c in city.changes() if c.action == "licences_imported"]
    assert len(changes) == 1 and '"imported": 4' in changes[0].detail


def test_a_licence_is_valid_through_its_last_day(city: Store, tmp_path: Path):
    import_register(city, write(tmp_path, REGISTER))
    one = "网吧 One"
    assert one not in {v.venue for v in unlicensed(city, date(2027, 12, 31))}
    lapsed = {v.venue: v.why for v in unlicensed(city, date(2028, 1, 1))}
    assert lapsed[one] == "expired"


def test_the_default_day_is_today_where_the_venue_is(city: Store, tmp_path: Path):
    import_register(city, write(tmp_path, REGISTER))
    city.clock.set(city.clock.now().replace(year=2028, month=1, day=1, hour=1))  # 09:00 Shanghai
    days = {v.venue: v.on for v in unlicensed(city)}
    assert days["网吧 One"] == date(2028, 1, 1)
    assert days["Cafe Two"] == date(2028, 1, 1)  # 02:00 in Berlin


def test_a_malformed_row_rejects_the_whole_file_naming_its_row(city: Store, tmp_path: Path):
    import_register(city, write(tmp_path, REGISTER))
    before = [(e.number, e.status) for e in register(city)]
    bad = (
        "licence,venue,valid_until,status\n"
        "LIC-1,网吧 One,2027-12-31,valid\n"
        "LIC-2,Cafe Two,2026-13-01,valid\n"
        "LIC-3,Cafe Three,,cancelled\n"
        "LIC-1,Cafe Four,,valid\n"
        "LIC-5,Cafe Five\n"
    )
    with pytest.raises(RegisterError) as caught:
        import_register(city, write(tmp_path, bad, "bad.csv"))
    problems = caught.value.problems
    assert problems[0].startswith("row 3: valid_until '2026-13-01'")
    assert problems[1].startswith("row 4: status 'cancelled'")
    assert problems[2] == "row 5: licence 'LIC-1' is already on row 2"
    assert problems[3].startswith("row 6: expected 4 fields")
    assert "nothing imported" in str(caught.value)
    assert [(e.number, e.status) for e in register(city)] == before, "nothing imported"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("number,venue,until,status\nLIC-1,网吧 One,,valid\n", "row 1: the header must be"),
        ("", "row 1: the header must be"),
        ("licence,venue,valid_until,status\n LIC-1,网吧 One,,valid\n", "row 2: licence must be"),
        ("licence,venue,valid_until,status\nLIC-1,,,valid\n", "row 2: venue must be"),
        ("licence,venue,valid_until,status\nLIC-1,网吧 One,20271231,valid\n", "row 2: valid_"),
    ],
)
def test_bad_registers_import_nothing(city: Store, tmp_path: Path, text: str, problem: str):
    with pytest.raises(RegisterError, match=problem):
        import_register(city, write(tmp_path, text))
    assert register(city) == []


def test_a_reimport_replaces_the_register(city: Store, tmp_path: Path):
    import_register(city, write(tmp_path, REGISTER))
    renewed = "licence,venue,valid_until,status\nLIC-2b,Cafe Two,2029-01-31,valid\n"
    report = import_register(city, write(tmp_path, renewed, "renewed.csv"))
    assert (report.imported, report.replaced) == (1, 4)
    assert [e.number for e in register(city)] == ["LIC-2b"]
    flagged = {v.venue: v.why for v in unlicensed(city, ON)}
    assert flagged == {"网吧 One": "missing", "Cafe Three": "missing", "黑网吧": "missing"}
    one = next(v for v in unlicensed(city, ON) if v.venue == "网吧 One")
    assert one.detail == "the inventory names licence LIC-1, not in the register"


def test_the_gravest_entry_explains_and_a_number_matches_across_names(city: Store, tmp_path: Path):
    text = (
        "licence,venue,valid_until,status\n"
        "OLD-3,Cafe Three,2025-01-01,valid\n"
        "NEW-3,Cafe Three,2029-01-01,suspended\n"
        "LIC-1,网吧一号,2029-01-01,revoked\n"  # the register's own name for 网吧 One
    )
    import_register(city, write(tmp_path, text))
    flagged = {v.venue: v for v in unlicensed(city, ON)}
    assert (flagged["Cafe Three"].why, flagged["Cafe Three"].licence) == ("suspended", "NEW-3")
    assert flagged["网吧 One"].why == "revoked"
    assert "the register names it for '网吧一号'" in flagged["网吧 One"].detail


def test_the_noc_lists_unlicensed_venues_over_the_api(city: Store, tmp_path: Path):
    import_register(city, write(tmp_path, REGISTER))
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    noc = create_token(city, "noc", "test")[1]
    bureau = create_token(city, "bureau", "test", authority="city-bureau")[1]
    with TestClient(create_app(settings, city)) as client:
        response = client.get(
            "/api/v1/venues/unlicensed", params={"on": "2026-11-25"},
            headers={"Authorization": f"Bearer {noc}"},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        assert {v["venue"]: v["why"] for v in response.json()} == {
            "Cafe Two": "expired", "Cafe Three": "revoked", "黑网吧": "missing",
        }  # fmt: skip
        black = next(v for v in response.json() if v["venue"] == "黑网吧")
        assert black["lines"][0]["interface"] == "GigabitEthernet0/4"
        refused = client.get(
            "/api/v1/venues/unlicensed", headers={"Authorization": f"Bearer {bureau}"}
        )
        assert refused.status_code == 403
        # the inventory listing flags them too (the store's clock stands on 2026-11-24)
        listed = client.get("/api/v1/venues", headers={"Authorization": f"Bearer {noc}"}).json()
        flags = {v["name"]: (v["licensed"], v["unlicensed_why"]) for v in listed}
        assert flags["网吧 One"] == (True, None)
        assert flags["黑网吧"] == (False, "missing")
        assert flags["Cafe Three"] == (False, "revoked")


def test_the_cli_imports_the_register_and_names_the_line_serving_the_black_cafe(
    city: Store, tmp_path: Path
):
    runner = CliRunner()
    url = ["--database-url", str(city.engine.url)]
    imported = runner.invoke(
        cli, ["venues", "import-licences", str(write(tmp_path, REGISTER)), *url]
    )
    assert imported.exit_code == 0, imported.output
    assert "imported 4 licence(s)" in imported.output
    assert "not in the inventory: Somewhere Else" in imported.output

    listed = runner.invoke(cli, ["venues", "unlicensed", "--on", "2026-11-25", *url])
    assert listed.exit_code == 0, listed.output
    black = next(row for row in listed.stdout.splitlines() if row.startswith("黑网吧"))
    assert black.split() == [
        "黑网吧", "620100", "missing", "R1-L4", "R1", "default", "GigabitEthernet0/4",
        "198.18.4.0/24", "2001:db8:1:4::/64",
    ]  # fmt: skip
    assert "网吧 One" not in listed.stdout

    as_json = runner.invoke(
        cli, ["venues", "unlicensed", "--on", "2026-11-25", "--format", "json", *url]
    )
    found = {v["venue"]: v for v in json.loads(as_json.stdout)}
    assert found["黑网吧"]["lines"][0]["line"] == "R1-L4"

    as_csv = runner.invoke(
        cli, ["venues", "unlicensed", "--on", "2026-11-25", "--format", "csv", *url]
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {(r["venue"], r["why"], r["line"], r["interface"]) for r in rows} == {
        ("Cafe Two", "expired", "R1-L2", "GigabitEthernet0/2"),
        ("Cafe Three", "revoked", "R1-L3", "GigabitEthernet0/3"),
        ("黑网吧", "missing", "R1-L4", "GigabitEthernet0/4"),
    }

    everything = runner.invoke(cli, ["venues", "list", "--on", "2026-11-25", *url])
    assert any(r.startswith("网吧 One") and "licensed" in r for r in everything.stdout.splitlines())


def test_the_cli_reports_a_bad_register_and_imports_nothing(city: Store, tmp_path: Path):
    bad = write(tmp_path, "licence,venue,valid_until,status\nLIC-1,网吧 One,soon,valid\n")
    result = CliRunner().invoke(
        cli, ["venues", "import-licences", str(bad), "--database-url", str(city.engine.url)]
    )
    assert result.exit_code == 2
    assert "row 2: valid_until 'soon'" in result.output
    assert register(city) == []
    wrong_day = CliRunner().invoke(cli, ["venues", "unlicensed", "--on", "25/11/2026"])
    assert wrong_day.exit_code == 2 and "YYYY-MM-DD" in wrong_day.output
