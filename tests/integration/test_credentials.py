"""Device secrets out of reach: named only by reference (credentials directory, prefixed
variables) or stored encrypted with a key outside the database; never an arbitrary variable
through the API; sent only to devices inside the management networks. Real SQLite and
PostgreSQL, real SSH to lab twins."""

from __future__ import annotations

import copy
import dataclasses
import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from ipaddress import ip_network
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli
from controller.credentials import (
    SEALED,
    SecretsError,
    Vault,
    load_key,
    unseal,
)
from controller.db import alembic_config, make_engine, migrate
from controller.inventory import InventoryError, import_document
from controller.orders import OrderCreate, issue_order
from controller.reconciler import PassReport, Reconciler
from controller.settings import DeviceAccessSettings, Settings
from controller.store import Store
from controller.tokens import create_token
from lab.topology import Lab, city
from tests.conftest import ADMIN_TOKEN, SECRETS_KEY_FILE, SHANGHAI, SMALL_CITY

NIGHT = datetime(2026, 11, 25, tzinfo=SHANGHAI)
CUT_AT = NIGHT + timedelta(seconds=5)
PASSWORD, ENABLE = "pw-7f3c-only-the-router-knows", "enable-91ad-only-the-router-knows"


def with_vault(store: Store, vault: Vault) -> Store:
    """The same database seen through another vault (as another process configured so)."""
    return Store(store.engine, store.clock, vault=vault)


def key() -> bytes:
    return load_key(SECRETS_KEY_FILE)


# -- through the API: no variable may be named ----------------------------------------------


@pytest.mark.parametrize("field", ["password_env", "secret_env"])
def test_a_noc_token_cannot_name_the_admin_token_as_a_device_secret(city_store: Store, field):
    _, noc = create_token(city_store, "noc", "admin")
    device = {"name": "R9", "platform": "cisco_ios", "host": "127.0.0.1", "port": 2222,
              "username": "curfew", "password_ref": "r9", field: "CURFEW_ADMIN_TOKEN"}  # fmt: skip
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, city_store)) as client:
        refused = client.post(
            "/api/v1/inventory", json={"devices": [device]},
            headers={"Authorization": f"Bearer {noc}"},
        )  # fmt: skip
    assert refused.status_code == 422
    assert f"{field} is refused" in refused.text
    assert field.replace("_env", "_ref") in refused.text and "CURFEW_DEVICE_SECRET_" in refused.text
    assert ADMIN_TOKEN not in refused.text
    assert [d.name for d in city_store.devices()] == ["R1"]


def test_a_reference_reads_only_its_own_file_or_prefixed_variable(tmp_path: Path):
    environ = {"CURFEW_ADMIN_TOKEN": ADMIN_TOKEN, "CURFEW_DEVICE_SECRET_R1_PASSWORD": "pw"}
    vault = Vault(directory=tmp_path, environ=environ)
    assert vault.lookup("r1.password") == "pw" and vault.lookup("R1-PASSWORD") == "pw"
    assert vault.lookup("CURFEW_ADMIN_TOKEN") is None  # would be CURFEW_DEVICE_SECRET_CURFEW_…
    for escape in ("../etc/passwd", "/etc/passwd", ".hidden", "a b", "x" * 65, ""):
        with pytest.raises(ValueError, match="not a credential name"):
            vault.lookup(escape)


# -- at rest: nothing in the database is a secret in plain text -------------------------------


def test_no_table_holds_a_device_secret_in_plain_text(store: Store):
    city = copy.deepcopy(SMALL_CITY)
    city["devices"][0].update(password=PASSWORD, secret=ENABLE)
    import_document(store, city, "city.yaml")
    import_document(store, city, "again.yaml")  # re-import: still sealed, freshly
    with store.engine.connect() as connection:
        tables = sa.inspect(connection).get_table_names()
        dumped = [
            repr(tuple(row))
            for table in tables
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"'))
        ]
        password, secret = connection.execute(sa.text("SELECT password, secret FROM devices")).one()
    assert "devices" in tables and dumped
    assert not [row for row in dumped if PASSWORD in row or ENABLE in row]
    assert password.startswith(SEALED) and secret.startswith(SEALED)
    assert unseal(key(), "R1", "password", password) == PASSWORD
    with pytest.raises(ValueError):  # bound to its device and field: not movable
        unseal(key(), "R2", "password", password)
    with pytest.raises(ValueError):
        unseal(key(), "R1", "secret", password)


def test_an_inline_password_without_a_key_is_refused_at_import(store: Store, monkeypatch):
    with pytest.raises(InventoryError) as refused:
        import_document(with_vault(store, Vault()), copy.deepcopy(SMALL_CITY), "city.yaml")
    message = str(refused.value)
    assert "CURFEW_SECRETS_KEY_FILE" in message and "curfew secrets keygen" in message
    assert store.devices() == []

    monkeypatch.delenv("CURFEW_SECRETS_KEY_FILE")
    by_ref = copy.deepcopy(SMALL_CITY)
    del by_ref["devices"][0]["password"], by_ref["devices"][0]["secret"]
    by_ref["devices"][0]["password_ref"] = "r1.password"
    import_document(Store(store.engine, store.clock), by_ref, "city.yaml")  # no key needed
    assert store.devices()[0].password == ""


def test_the_key_file_is_made_private_and_a_readable_one_is_refused(tmp_path: Path):
    made = CliRunner().invoke(cli, ["secrets", "keygen", "--out", str(tmp_path / "k")])
    assert made.exit_code == 0, made.output
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert len(load_key(tmp_path / "k")) == 32
    again = CliRunner().invoke(cli, ["secrets", "keygen", "--out", str(tmp_path / "k")])
    assert again.exit_code != 0 and len(load_key(tmp_path / "k")) == 32  # never overwritten
    (tmp_path / "k").chmod(0o644)
    with pytest.raises(SecretsError, match="chmod 600"):
        Vault.from_settings(DeviceAccessSettings(secrets_key_file=tmp_path / "k"))
    (tmp_path / "junk").write_text("not a key\n")
    (tmp_path / "junk").chmod(0o600)
    with pytest.raises(SecretsError, match="curfew secrets keygen"):
        load_key(tmp_path / "junk")


# -- the migration encrypts what was plain ----------------------------------------------------


def test_the_migration_encrypts_plain_secrets_and_turns_variables_into_references(
    database_url: str,
):
    engine = make_engine(database_url)
    try:
        command.upgrade(alembic_config(engine), "0008")
        with engine.begin() as connection:
            connection.execute(sa.text(
                "INSERT INTO devices (id, name, platform, host, port, username, password, "
                "password_env, secret, secret_env, frozen, carrier, options_json) VALUES (1, 'R1', "
                "'cisco_ios', '127.0.0.1', 22, 'curfew', :pw, NULL, :en, 'CURFEW_R1_ENABLE', "
                "false, 'default', '{}')"
            ), {"pw": PASSWORD, "en": ENABLE})  # fmt: skip
            connection.execute(sa.text(
                "INSERT INTO venues (id, name, licence, zone) VALUES (1, 'V', 'L', 'Asia/Shanghai')"
            ))  # fmt: skip
            connection.execute(sa.text(
                "INSERT INTO lines (id, name, venue_id, device_id, interface, prefixes_json) "
                "VALUES (1, 'L1', 1, 1, 'GigabitEthernet0/1', '[]')"
            ))  # fmt: skip

        with pytest.raises(SecretsError, match="CURFEW_SECRETS_KEY_FILE"):
            migrate(engine, Vault())  # plain secrets and no key: nothing changes
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == "0008"
            assert connection.execute(sa.text("SELECT password FROM devices")).scalar() == PASSWORD

        migrate(engine, Vault(key=key()))
        with engine.connect() as connection:
            row = connection.execute(sa.text("SELECT * FROM devices")).mappings().one()
            lines = connection.execute(sa.text("SELECT count(*) FROM lines")).scalar()
        assert lines == 1  # the device row was changed in place, its lines kept
        assert "password_env" not in row and "secret_env" not in row
        assert row["password"].startswith(SEALED) and PASSWORD not in repr(dict(row))
        assert unseal(key(), "R1", "password", row["password"]) == PASSWORD
        assert unseal(key(), "R1", "secret", row["secret"]) == ENABLE
        assert row["secret_ref"] == "CURFEW_R1_ENABLE" and row["password_ref"] is None

        command.downgrade(alembic_config(engine, Vault(key=key())), "0008")
        with engine.connect() as connection:
            row = connection.execute(sa.text("SELECT * FROM devices")).mappings().one()
        assert (row["password"], row["secret"]) == (PASSWORD, ENABLE)
        assert row["secret_env"] == "CURFEW_DEVICE_SECRET_CURFEW_R1_ENABLE"
    finally:
        engine.dispose()


# -- against a lab twin: secrets by reference, and the management networks --------------------


@pytest.fixture
def twin() -> Iterator[tuple[Lab, dict[str, Any]]]:
    specs, inventory = city(1, 1)
    spec = dataclasses.replace(specs[0], password=PASSWORD, secret=ENABLE)
    with Lab([spec]) as lab:
        yield lab, lab.inventory(inventory)


def cut_pass(store: Store) -> PassReport:
    issue_order(
        store,
        OrderCreate(
            venue="Venue R1-1", kind="curfew", reason="after_hours",
            legal_basis="临兰文执发〔2018〕3号", effective_from=NIGHT - timedelta(days=7),
        ),
        actor="bureau:test",
    )  # fmt: skip
    store.clock.set(CUT_AT)  # type: ignore[attr-defined]
    return Reconciler(store, device_timeout=5).run_pass(CUT_AT)


def by_reference(inventory: dict[str, Any], password_ref: str, secret_ref: str) -> dict:
    device = inventory["devices"][0]
    del device["password"], device["secret"]
    device.update(password_ref=password_ref, secret_ref=secret_ref)
    return inventory


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


def write_secret(path: Path, text: str) -> None:
    path.write_text(text + "\n", encoding="utf-8")
    path.chmod(0o600)


@pytest.mark.lab
def test_secrets_from_the_credentials_directory_and_prefixed_variables_reach_the_router(
    twin, store: Store, tmp_path: Path, monkeypatch
):
    lab, inventory = twin
    directory = private_dir(tmp_path / "credentials")
    write_secret(directory / "r1.password", PASSWORD)
    monkeypatch.setenv("CURFEW_CREDENTIALS_DIR", str(directory))
    monkeypatch.setenv("CURFEW_DEVICE_SECRET_R1_ENABLE", ENABLE)
    store = with_vault(store, Vault.from_environment())
    import_document(store, by_reference(inventory, "r1.password", "r1-enable"), "lab")

    report = cut_pass(store)
    assert report.ok, report.failures
    assert "ip access-group CURFEW-L1 in" in lab.router("R1").running_config()


@pytest.mark.lab
def test_a_readable_or_missing_credential_refuses_the_session_saying_why(
    twin, store: Store, tmp_path: Path
):
    lab, inventory = twin
    directory = private_dir(tmp_path / "credentials")
    write_secret(directory / "r1.password", PASSWORD)
    (directory / "r1.password").chmod(0o644)
    store = with_vault(store, Vault(key=key(), directory=directory, environ={}))
    import_document(store, by_reference(inventory, "r1.password", "r1.enable"), "lab")

    report = cut_pass(store)
    [result] = report.results
    assert result.error is not None and result.error.startswith("CredentialMissing: ")
    assert "chmod 600" in result.error and not result.retryable
    assert lab.passwords_offered("R1") == 0  # no session was even tried

    (directory / "r1.password").chmod(0o600)
    report = Reconciler(store, device_timeout=5).run_pass(CUT_AT)
    [result] = report.results
    assert result.error is not None and "r1.enable" in result.error
    assert str(directory / "r1.enable") in result.error
    assert "CURFEW_DEVICE_SECRET_R1_ENABLE" in result.error


def test_a_credentials_directory_others_may_write_or_own_is_refused(tmp_path: Path):
    directory = private_dir(tmp_path / "credentials")
    directory.chmod(0o770)
    with pytest.raises(SecretsError, match="chmod 700"):
        Vault.from_settings(DeviceAccessSettings(credentials_dir=directory))
    directory.chmod(0o700)
    assert Vault.from_settings(DeviceAccessSettings(credentials_dir=directory)).directory
    if os.geteuid() != 0:
        pytest.skip("giving the directory to another user needs root")
    os.chown(directory, 65534, 65534)
    with pytest.raises(SecretsError, match="owned by uid 65534"):
        Vault.from_settings(DeviceAccessSettings(credentials_dir=directory))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_device_outside_the_management_networks_is_refused_at_import(
    store: Store, monkeypatch, host: str
):
    monkeypatch.setenv("CURFEW_MANAGEMENT_NETWORKS", "10.0.0.0/8, 2001:db8:ffff::/48")
    city = copy.deepcopy(SMALL_CITY)
    city["devices"][0]["host"] = host
    with pytest.raises(InventoryError) as refused:
        import_document(with_vault(store, Vault.from_environment()), city, "city.yaml")
    assert "outside CURFEW_MANAGEMENT_NETWORKS (10.0.0.0/8, 2001:db8:ffff::/48)" in str(
        refused.value
    )
    assert "127.0.0.1" in str(refused.value) and store.devices() == []

    monkeypatch.setenv("CURFEW_MANAGEMENT_NETWORKS", "10.0.0.0/8,127.0.0.0/8,::1/128")
    import_document(with_vault(store, Vault.from_environment()), city, "city.yaml")
    assert store.devices()[0].host == host


@pytest.mark.lab
def test_a_device_outside_the_management_networks_is_refused_at_connection_time(
    twin, store: Store
):
    lab, inventory = twin
    import_document(store, inventory, "lab")  # imported while no limit was configured
    fenced = with_vault(store, Vault(key=key(), networks=(ip_network("10.0.0.0/8"),)))
    report = cut_pass(fenced)
    [result] = report.results
    assert result.error is not None
    assert result.error.startswith("OutsideManagementNetworks: ") and "10.0.0.0/8" in result.error
    assert lab.passwords_offered("R1") == 0 and lab.sessions_opened("R1") == 0


@pytest.mark.lab
def test_a_device_named_by_host_name_is_checked_and_reached_at_its_address(twin, store: Store):
    lab, inventory = twin
    inventory["devices"][0]["host"] = "localhost"
    networks = (ip_network("127.0.0.0/8"), ip_network("::1/128"))
    fenced = with_vault(store, Vault(key=key(), networks=networks))
    import_document(fenced, inventory, "lab")
    report = cut_pass(fenced)
    assert report.ok, report.failures


# -- what the API shows -----------------------------------------------------------------------


def test_the_device_listing_shows_no_secret_reference_or_ciphertext(city_store: Store):
    by_ref = copy.deepcopy(SMALL_CITY)
    by_ref["devices"][0].update(name="R2", password="pw-visible?", secret_ref="r2.enable-ref")
    del by_ref["devices"][0]["secret"]
    by_ref["lines"] = []
    import_document(city_store, by_ref, "more.yaml")
    settings = Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings, city_store)) as client:
        listed = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert listed.status_code == 200
    for shown in listed.json():
        assert set(shown) == {
            "id", "name", "platform", "host", "port", "carrier", "frozen",
            "host_key_fingerprint", "host_key_learn_once",
        }  # fmt: skip
    for leak in ("pw-visible?", "lab-password", "lab-enable", "r2.enable-ref", SEALED):
        assert leak not in listed.text
