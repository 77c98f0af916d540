"""Tamper-evidence: edit, delete, truncate, swap, forge — `curfew audit verify` names each.

Every case runs on SQLite and on PostgreSQL (the `database_url` fixture).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from controller.audit import Checkpointer, generate_key, load_key
from controller.inventory import import_document
from controller.orders import OrderCreate, issue_order, revoke_order
from controller.reconciler import Reconciler
from controller.store import Store
from lab.topology import Lab, city
from tests.conftest import SHANGHAI

pytestmark = pytest.mark.lab

runner = CliRunner()


@pytest.fixture
def audited(tmp_path: Path, clock, database_url: str):
    """A store whose log holds a night's orders and passes, checkpointed every 5 records."""
    key_file = tmp_path / "signing.pem"
    public = generate_key(key_file)
    outside = tmp_path / "outside"
    store = Store.open(database_url, clock=clock)
    store.checkpointer = Checkpointer(load_key(key_file), clock, every=5, directory=outside)
    specs, inventory = city(devices=1, lines_per_device=3)
    with Lab(specs) as lab:
        import_document(store, lab.inventory(inventory), "lab")
        night = datetime(2026, 11, 25, tzinfo=SHANGHAI)
        ids = []
        for number, venue in enumerate(v.name for v in store.venues()):
            request = OrderCreate(
                venue=venue, kind="curfew", reason="after_hours",
                legal_basis=f"临文执发〔2026〕{number}号", effective_from=night - timedelta(days=3),
            )  # fmt: skip
            ids.append(issue_order(store, request, "bureau:test").id)
        reconciler = Reconciler(store)
        for hours in (0.1, 2, 8.1):
            clock.set(night + timedelta(hours=hours))
            if hours == 2:
                revoke_order(store, ids[0], "appeal upheld", "bureau:test")
            assert reconciler.run_pass(clock.now()).ok
    store.close()
    env = {"CURFEW_DATABASE_URL": database_url}
    return {"url": database_url, "env": env, "outside": outside, "public": public}


def verify(audited, *extra: str):
    return runner.invoke(app, ["audit", "verify", *extra], env=audited["env"])


def tamper(url: str, *statements: str) -> None:
    """What a database owner can do: get past the append-only triggers and edit rows."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                # the owner (a superuser here) switches triggers and foreign keys off
                connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            else:
                connection.exec_driver_sql("DROP TRIGGER IF EXISTS changes_no_update")
                connection.exec_driver_sql("DROP TRIGGER IF EXISTS changes_no_delete")
            for statement in statements:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def query(url: str, statement: str) -> sa.Row:
    """The first row of a read, straight from the database."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            row = connection.exec_driver_sql(statement).first()
    finally:
        engine.dispose()
    assert row is not None, statement
    return row


def head(url: str) -> int:
    return query(url, "SELECT max(seq) FROM changes")[0]


def test_an_untouched_log_verifies(audited):
    result = verify(audited, "--checkpoints", str(audited["outside"]))
    assert result.exit_code == 0, result.output
    assert "OK: the log verifies" in result.output
    assert head(audited["url"]) > 15
    assert len(list(audited["outside"].glob("checkpoint-*.json"))) >= 3


def test_the_schema_refuses_updates_deletes_and_truncation(audited):
    engine = sa.create_engine(audited["url"])
    statements = [
        "UPDATE changes SET detail = 'x' WHERE seq = 1",
        "DELETE FROM changes WHERE seq = 1",
    ]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE changes CASCADE")  # row triggers alone do not see TRUNCATE
    try:
        for statement in statements:
            with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError) as refused:
                connection.exec_driver_sql(statement)
            assert "append-only" in str(refused.value), statement
    finally:
        engine.dispose()
    assert head(audited["url"]) > 15


def test_editing_one_field_of_one_record_is_named(audited):
    tamper(audited["url"], "UPDATE changes SET state_after = 'open' WHERE seq = 9")
    result = verify(audited)
    assert result.exit_code == 1
    assert "first bad sequence number 9" in result.output
    assert "seq 9: edited" in result.output


def test_deleting_a_record_in_the_middle_is_named(audited):
    tamper(audited["url"], "DELETE FROM changes WHERE seq = 7")
    result = verify(audited)
    assert result.exit_code == 1
    assert "seq 7: deleted: record(s) 7 are missing" in result.output


def test_deleting_the_newest_records_is_named_by_a_checkpoint(audited):
    last = head(audited["url"])
    tamper(audited["url"], f"DELETE FROM changes WHERE seq > {last - 3}")
    result = verify(audited)
    assert result.exit_code == 1
    assert f"seq {last - 2}: truncated" in result.output


def test_truncation_hidden_from_the_database_is_caught_by_checkpoints_held_outside(audited):
    last = head(audited["url"])
    # the owner removes the newest records and every checkpoint that vouched for them
    tamper(
        audited["url"],
        f"DELETE FROM changes WHERE seq > {last - 4}",
        f"DELETE FROM checkpoints WHERE seq > {last - 4}",
    )
    alone = verify(audited)
    assert alone.exit_code == 0, "the database alone cannot tell"
    # ...and it says so, instead of a bare OK for a log that lost its tail
    assert "OK: the log verifies" not in alone.output
    assert "warning: no checkpoint held outside the database" in alone.output
    assert "truncation of the log's tail" in alone.output
    assert "NOT PROVEN" in alone.output
    assert verify(audited, "--strict").exit_code == 3
    result = verify(audited, "--checkpoints", str(audited["outside"]))
    assert result.exit_code == 1
    assert f"seq {last - 3}: truncated" in result.output


def test_checkpoints_held_outside_make_a_strict_verification_pass(audited):
    result = verify(audited, "--checkpoints", str(audited["outside"]), "--strict")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert "OK: the log verifies" in result.output


def test_an_empty_checkpoint_directory_is_no_evidence_from_outside(audited, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = verify(audited, "--checkpoints", str(empty), "--strict")
    assert result.exit_code == 3, result.output
    assert "0 held outside" in result.output
    assert "warning: no checkpoint held outside the database" in result.output
    assert "OK: the log verifies" not in result.output


def test_a_log_never_checkpointed_says_it_cannot_detect_truncation(tmp_path, clock, database_url):
    store = Store.open(database_url, clock=clock)  # no signing key: no checkpoint is ever made
    for n in range(6):
        store.log_admin("token_created", "test", detail=f"token {n}")
    store.close()
    tamper(database_url, "DELETE FROM changes WHERE seq > 3")  # the tail, cut off
    env = {"CURFEW_DATABASE_URL": database_url}
    result = runner.invoke(app, ["audit", "verify"], env=env)
    assert result.exit_code == 0, result.output
    assert "3 records (seq 1..3), 0 checkpoints, 0 held outside" in result.output
    assert "warning: no signed checkpoint at all" in result.output
    assert "truncation of the log's tail" in result.output
    assert "a chain rewritten from an edited record" in result.output
    assert "OK: the log verifies" not in result.output
    strict = runner.invoke(app, ["audit", "verify", "--strict"], env=env)
    assert strict.exit_code == 3, strict.output
    assert "NOT PROVEN" in strict.output


def test_an_export_checked_without_the_signers_key_trusts_the_key_inside_it(audited, tmp_path):
    """A rewriter of the export edits a record, rechains it and re-signs every checkpoint with
    a key of their own: without --public-key only the export's own key vouches for it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from controller.audit import checkpoint_message, public_hex
    from controller.changelog import GENESIS, body_hash

    out = tmp_path / "export.jsonl"
    exported = runner.invoke(app, ["audit", "export", "--out", str(out)], env=audited["env"])
    assert exported.exit_code == 0, exported.output
    honest = runner.invoke(app, ["audit", "verify", "--export", str(out)])
    assert honest.exit_code == 0, honest.output
    assert "warning: no --public-key" in honest.output
    assert "key(s) the export itself names" in honest.output
    assert "OK: the log verifies" not in honest.output
    assert runner.invoke(app, ["audit", "verify", "--export", str(out), "--strict"]).exit_code == 3

    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    rogue = Ed25519PrivateKey.generate()
    prev, hashes = GENESIS, {}
    for item in items:
        if item["type"] == "record":
            if item["seq"] == 3:
                item["actor"] = "someone else"
            body = {k: v for k, v in item.items() if k not in ("type", "seq", "prev_hash", "hash")}
            item["prev_hash"], item["hash"] = prev, body_hash(item["seq"], prev, body)
            prev = hashes[item["seq"]] = item["hash"]
    for item in items:
        if item["type"] == "header":
            item["public_keys"] = [public_hex(rogue.public_key())]
        elif item["type"] == "checkpoint":
            item["head_hash"] = hashes[item["seq"]]
            item["public_key"] = public_hex(rogue.public_key())
            message = checkpoint_message(item["log_id"], item["seq"], item["head_hash"], item["at"])
            item["signature"] = rogue.sign(message).hex()
    rewritten = tmp_path / "rewritten.jsonl"
    rewritten.write_text(
        "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8"
    )
    fooled = runner.invoke(app, ["audit", "verify", "--export", str(rewritten)])
    assert fooled.exit_code == 0, "re-signed with its own key, the export is consistent"
    assert "warning: no --public-key" in fooled.output and "NOT PROVEN" in fooled.output
    pinned = runner.invoke(
        app, ["audit", "verify", "--export", str(rewritten), "--public-key", audited["public"]]
    )
    assert pinned.exit_code == 1
    assert "forged_checkpoint" in pinned.output
    proven = runner.invoke(
        app,
        ["audit", "verify", "--export", str(out), "--public-key", audited["public"],
         "--checkpoints", str(audited["outside"]), "--strict"],
    )  # fmt: skip
    assert proven.exit_code == 0, proven.output
    assert "OK: the log verifies" in proven.output


def test_swapping_two_records_is_named(audited):
    tamper(
        audited["url"],
        "UPDATE changes SET seq = -1 WHERE seq = 4",
        "UPDATE changes SET seq = 4 WHERE seq = 6",
        "UPDATE changes SET seq = 6 WHERE seq = -1",
    )
    result = verify(audited)
    assert result.exit_code == 1
    assert "seq 4: reordered" in result.output


def test_replacing_a_checkpoint_signature_is_named(audited):
    seq, signature = query(audited["url"], "SELECT seq, signature FROM checkpoints ORDER BY seq")
    forged = signature[:-2] + ("00" if signature[-2:] != "00" else "11")
    tamper(audited["url"], f"UPDATE checkpoints SET signature = '{forged}' WHERE seq = {seq}")
    result = verify(audited)
    assert result.exit_code == 1
    assert f"seq {seq}: forged_checkpoint" in result.output


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoints(audited):
    """Editing a record and recomputing every hash after it passes the chain, not the signatures."""
    from controller.changelog import GENESIS, record_hash

    store = Store.open(audited["env"]["CURFEW_DATABASE_URL"])
    changes = store.changes()
    store.close()
    prev, statements = GENESIS, []
    for change in changes:
        if change.seq == 3:
            change.actor = "someone else"
        change.prev_hash = prev
        change.hash = record_hash(change.seq, prev, change)
        statements.append(
            f"UPDATE changes SET actor = '{change.actor}', prev_hash = '{change.prev_hash}', "
            f"hash = '{change.hash}' WHERE seq = {change.seq}"
        )
        prev = change.hash
    tamper(audited["url"], *statements)
    result = verify(audited)
    assert result.exit_code == 1
    assert "rewritten" in result.output
    assert ": edited:" not in result.output, "the chain itself is consistent again"


def test_an_export_verifies_on_its_own_without_a_database(audited, tmp_path):
    out = tmp_path / "export.jsonl"
    exported = runner.invoke(app, ["audit", "export", "--out", str(out)], env=audited["env"])
    assert exported.exit_code == 0, exported.output
    elsewhere = {"CURFEW_DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"}
    result = runner.invoke(
        app,
        ["audit", "verify", "--export", str(out), "--checkpoints", str(audited["outside"]),
         "--public-key", audited["public"]],
        env=elsewhere,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "OK: the log verifies" in result.output
    assert not (tmp_path / "no-such-dir").exists(), "verifying an export opens no database"

    lines = out.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[5])
    record["device_output"] = record["device_output"] + " "
    lines[5] = json.dumps(record, ensure_ascii=False)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["audit", "verify", "--export", str(out)], env=elsewhere)
    assert result.exit_code == 1
    assert f"seq {record['seq']}: edited" in result.output


def test_a_partial_export_is_anchored_and_verifies(audited, tmp_path):
    out = tmp_path / "part.jsonl"
    runner.invoke(app, ["audit", "export", "--out", str(out), "--from", "6", "--to", "12"],
                  env=audited["env"])  # fmt: skip
    result = runner.invoke(app, ["audit", "verify", "--export", str(out)])
    assert result.exit_code == 0, result.output
    assert "(seq 6..12)" in result.output


def test_checkpoints_are_served_over_the_api(audited):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from controller.settings import Settings
    from tests.conftest import ADMIN_TOKEN

    settings = Settings(database_url=audited["env"]["CURFEW_DATABASE_URL"], admin_token=ADMIN_TOKEN)
    with TestClient(create_app(settings)) as client:
        served = client.get(
            "/api/v1/audit/checkpoints", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).json()
    assert served and {c["public_key"] for c in served} == {audited["public"]}
    assert served[-1]["seq"] == head(audited["url"])


def test_checkpoints_are_posted_to_the_webhook(tmp_path, clock, database_url):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from controller.audit import record_document, verify_records

    received: list[dict] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        key_file = tmp_path / "k.pem"
        generate_key(key_file)
        store = Store.open(database_url, clock=clock)
        store.checkpointer = Checkpointer(
            load_key(key_file), clock, every=3,
            webhook=f"http://127.0.0.1:{server.server_address[1]}/checkpoints",
        )  # fmt: skip
        for n in range(7):
            store.log_admin("token_created", "test", detail=f"token {n}")
        store.checkpoint()
        records = [record_document(c) for c in store.changes()]
        store.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert [c["seq"] for c in received] == [3, 6, 7]
    assert verify_records(records, received).ok


def test_a_correction_is_a_new_record_pointing_at_the_old_one(audited):
    before = head(audited["url"])
    original = query(audited["url"], "SELECT hash FROM changes WHERE seq = 5")[0]
    result = runner.invoke(
        app, ["audit", "correct", "--seq", "5", "--note", "wrong venue named in the order"],
        env=audited["env"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"record {before + 1} corrects record 5" in result.output
    action, detail = query(
        audited["url"], f"SELECT action, detail FROM changes WHERE seq = {before + 1}"
    )
    assert query(audited["url"], "SELECT hash FROM changes WHERE seq = 5")[0] == original
    assert action == "correction" and json.loads(detail)["corrects"] == 5
    assert verify(audited).exit_code == 0
    missing = runner.invoke(app, ["audit", "correct", "--seq", "99999", "--note", "x"],
                            env=audited["env"])  # fmt: skip
    assert missing.exit_code == 2 and "no change record 99999" in missing.output
