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
                for table in ("changes", "device_outputs"):
                    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                    connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
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


# -- device outputs stored once, content-addressed ------------------------------------------


def cited_output(url: str) -> tuple[int, str]:
    """The first record citing a stored device output: its seq and the output's SHA-256."""
    seq, ref = query(
        url,
        "SELECT seq, device_output_sha256 FROM changes "
        "WHERE device_output_sha256 IS NOT NULL ORDER BY seq",
    )
    return seq, ref


def test_a_routers_session_output_is_stored_once_and_cited_by_its_hash(audited):
    import hashlib

    url = audited["url"]
    outcomes, inline, cited, distinct, passes = query(
        url,
        "SELECT count(*), sum(CASE WHEN device_output = '' THEN 0 ELSE 1 END), "
        "count(device_output_sha256), count(DISTINCT device_output_sha256), "
        "count(DISTINCT pass_id) FROM changes WHERE kind = 'outcome'",
    )
    assert outcomes == cited and inline == 0, "every outcome cites its output, none inline"
    stored = query(url, "SELECT count(*) FROM device_outputs")[0]
    # one router: each pass's outcomes (three lines cut, then one and two restored) share
    # its one session output
    assert stored == distinct == passes == 3 and outcomes == 6
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            outputs = connection.exec_driver_sql("SELECT sha256, text FROM device_outputs").all()
    finally:
        engine.dispose()
    assert all(hashlib.sha256(text.encode()).hexdigest() == ref for ref, text in outputs)
    seq, ref = cited_output(url)
    shown = runner.invoke(app, ["changes", "--format", "json"], env=audited["env"])
    assert shown.exit_code == 0, shown.output
    record = next(r for r in json.loads(shown.output) if r["seq"] == seq)
    assert record["device_output_sha256"] == ref
    assert record["device_output"] == dict(outputs)[ref] and "#" in record["device_output"]


def test_two_appends_of_the_same_output_store_it_once(store):
    from controller.audit import verify_store
    from controller.changelog import NewChange

    answer = "R1(config)#ip access-list extended CURFEW-L1\nR1(config-ext-nacl)#exit\n"
    for line_id in (1, 2):
        store.append([NewChange(at=store.clock.now(), kind="outcome", action="cut",
                                actor="test", line_id=line_id, device_output=answer)])  # fmt: skip
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT count(*) FROM device_outputs").scalar()
    assert stored == 1
    first, second = store.changes()
    assert first.device_output_sha256 == second.device_output_sha256 is not None
    assert first.device_output == "" and first.output == second.output == answer
    assert verify_store(store.engine).ok


def test_the_schema_refuses_to_change_or_remove_a_stored_output(audited):
    engine = sa.create_engine(audited["url"])
    statements = [
        "UPDATE device_outputs SET text = 'x'",
        "DELETE FROM device_outputs",
    ]
    if engine.dialect.name == "postgresql":
        statements.append("TRUNCATE device_outputs")
    try:
        for statement in statements:
            with engine.begin() as connection, pytest.raises(sa.exc.DBAPIError) as refused:
                connection.exec_driver_sql(statement)
            assert "append-only" in str(refused.value), statement
    finally:
        engine.dispose()


def test_an_edited_stored_output_is_named_with_the_record_citing_it(audited, tmp_path):
    seq, ref = cited_output(audited["url"])
    out = tmp_path / "export.jsonl"
    tamper(audited["url"], f"UPDATE device_outputs SET text = text || ' ' WHERE sha256 = '{ref}'")
    result = verify(audited, "--checkpoints", str(audited["outside"]))
    assert result.exit_code == 1, result.output
    assert f"first bad sequence number {seq}" in result.output
    assert f"seq {seq}: edited: the stored device output {ref[:16]}" in result.output
    exported = runner.invoke(app, ["audit", "export", "--out", str(out)], env=audited["env"])
    assert exported.exit_code == 0, exported.output
    offline = runner.invoke(app, ["audit", "verify", "--export", str(out)])
    assert offline.exit_code == 1
    assert f"seq {seq}: edited: the stored device output {ref[:16]}" in offline.output


def test_a_deleted_stored_output_is_named_with_the_record_citing_it(audited, tmp_path):
    seq, ref = cited_output(audited["url"])
    tamper(audited["url"], f"DELETE FROM device_outputs WHERE sha256 = '{ref}'")
    result = verify(audited)
    assert result.exit_code == 1, result.output
    assert f"seq {seq}: deleted: the stored device output {ref[:16]}" in result.output
    out = tmp_path / "export.jsonl"
    runner.invoke(app, ["audit", "export", "--out", str(out)], env=audited["env"])
    offline = runner.invoke(app, ["audit", "verify", "--export", str(out)])
    assert offline.exit_code == 1
    assert f"seq {seq}: deleted: the stored device output {ref[:16]}" in offline.output


def test_a_deleted_stored_output_does_not_hide_a_truncated_tail(audited):
    last = head(audited["url"])
    seq, ref = cited_output(audited["url"])
    assert seq < last - 3
    tamper(
        audited["url"],
        f"DELETE FROM device_outputs WHERE sha256 = '{ref}'",
        f"DELETE FROM changes WHERE seq > {last - 3}",
    )
    result = verify(audited)
    assert result.exit_code == 1
    assert f"seq {seq}: deleted: the stored device output {ref[:16]}" in result.output
    assert f"seq {last - 2}: truncated" in result.output


def test_an_export_carries_each_cited_output_once_and_verifies_offline(audited, tmp_path):
    out = tmp_path / "export.jsonl"
    exported = runner.invoke(app, ["audit", "export", "--out", str(out)], env=audited["env"])
    assert exported.exit_code == 0, exported.output
    items = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    outputs = [i for i in items if i["type"] == "output"]
    cited = {i["device_output_sha256"] for i in items if i.get("device_output_sha256")}
    assert outputs and sorted(o["sha256"] for o in outputs) == sorted(cited), "each one once"
    first_citing = {}
    for index, item in enumerate(items):
        if item.get("device_output_sha256"):
            first_citing.setdefault(item["device_output_sha256"], index)
    assert all(items.index(o) < first_citing[o["sha256"]] for o in outputs), "written before"
    elsewhere = {"CURFEW_DATABASE_URL": f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}"}
    proven = runner.invoke(
        app,
        ["audit", "verify", "--export", str(out), "--checkpoints", str(audited["outside"]),
         "--public-key", audited["public"], "--strict"],
        env=elsewhere,
    )  # fmt: skip
    assert proven.exit_code == 0, proven.output
    assert "OK: the log verifies" in proven.output
    assert not (tmp_path / "no-such-dir").exists()

    def verify_edited(edit) -> str:  # noqa: ANN001 - a function over the export's items
        edited = tmp_path / "edited.jsonl"
        kept = [e for e in (edit(dict(i)) for i in items) if e is not None]
        edited.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in kept))
        result = runner.invoke(app, ["audit", "verify", "--export", str(edited)], env=elsewhere)
        assert result.exit_code == 1, result.output
        return result.output

    ref = outputs[0]["sha256"]
    seq = next(i["seq"] for i in items if i.get("device_output_sha256") == ref)
    changed = verify_edited(
        lambda i: i | {"text": i["text"].replace("#", "> ")} if i.get("sha256") == ref else i
    )
    assert f"seq {seq}: edited: the stored device output {ref[:16]}" in changed
    removed = verify_edited(lambda i: None if i.get("sha256") == ref else i)
    assert f"seq {seq}: deleted: the stored device output {ref[:16]}" in removed
    # a record no longer citing its output, its text put back inline: its hash covers the name
    inlined = verify_edited(
        lambda i: {k: v for k, v in i.items() if k != "device_output_sha256"}
        | {"device_output": outputs[0]["text"]}
        if i.get("device_output_sha256") == ref
        else i
    )
    assert f"seq {seq}: edited: record {seq}'s content does not match its hash" in inlined


# A record as the change log wrote it before outputs were stored once (migration 0010), with
# its output inline; the hash is the one that code computed for it.
PRE_0010_RECORD = {
    "at": "2026-11-24T16:06:00.250000+00:00", "pass_id": "3236f71cb038485e", "kind": "outcome",
    "action": "cut", "order_ids_json": "[1]", "line_id": 1, "venue_id": 1, "device_id": 1,
    "intent_seq": None, "actor": "reconciler",
    "commands_json": '["ip access-list extended CURFEW-L1", "exit"]',
    "device_output": "R1(config)#ip access-list extended CURFEW-L1\nR1(config-ext-nacl)#exit\n",
    "state_after": "cut", "verified": True, "error": None, "detail": "",
}  # fmt: skip
PRE_0010_HASH = "67edb5537970992a3baebe59ecb6b4acbbfe5dc49f4aedb00ee63bd18dd3ede2"


def test_a_record_written_before_outputs_were_stored_once_still_verifies(
    database_url, clock, tmp_path
):
    from alembic import command

    from controller.audit import export, verify_export, verify_store
    from controller.changelog import GENESIS, NewChange, body_hash
    from controller.db import alembic_config, make_engine
    from controller.models import Change

    assert body_hash(1, GENESIS, PRE_0010_RECORD) == PRE_0010_HASH
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0009")
    values = PRE_0010_RECORD | {
        "seq": 1, "at": datetime.fromisoformat(PRE_0010_RECORD["at"]),
        "prev_hash": GENESIS, "hash": PRE_0010_HASH,
    }  # fmt: skip
    with engine.begin() as connection:  # the columns of 0009: no device_output_sha256
        connection.execute(sa.insert(Change.__table__), values)
    engine.dispose()

    store = Store.open(database_url, clock=clock)  # migrates to 0010 and on
    try:
        answer = "R1(config)#no ip access-list extended CURFEW-L1\n"
        store.append([NewChange(at=clock.now(), kind="outcome", action="restore", actor="test",
                                line_id=1, device_output=answer)])  # fmt: skip
        old, new = store.changes()
        assert old.device_output_sha256 is None and old.output == PRE_0010_RECORD["device_output"]
        assert new.device_output == "" and new.output == answer
        report = verify_store(store.engine)
        assert report.ok and report.records == 2, report.problems
        out = tmp_path / "export.jsonl"
        assert export(store.engine, out, clock.now()) == 2
        assert verify_export(out).ok
    finally:
        store.close()


@pytest.mark.parametrize("json_in_sqlite", [True, False], ids=["sqlite-json", "template"])
def test_the_fast_reader_hashes_awkward_values_as_canonical_json_does(
    store, monkeypatch, json_in_sqlite
):
    """Quotes, escapes, control characters, non-ASCII, empty and absent values, an instant
    with and without microseconds: verified without ever falling back to the exact path
    (SQLite's json_object() and the template read from PostgreSQL or older SQLite)."""
    from datetime import UTC

    from controller.audit import _StoredRecords, verify_store
    from controller.changelog import NewChange

    if store.engine.dialect.name != "sqlite" and not json_in_sqlite:
        pytest.skip("PostgreSQL's values are always held by the template")
    awkward = 'quote " backslash \\ tab \t newline \n soh \x01 us \x1f bell \x07 del \x7f'
    awkward += ' 临 😀 \u2028'
    store.append([
        NewChange(at=datetime(2026, 11, 25, tzinfo=UTC), kind="admin", action="x", actor=awkward),
        NewChange(at=datetime(2026, 11, 25, 0, 0, 0, 1, tzinfo=UTC), kind="outcome",
                  action="cut", actor="r", pass_id=awkward, order_ids=[3, 1], line_id=0,
                  venue_id=2**31 - 1, device_id=1, intent_seq=1, commands=[awkward, "exit"],
                  device_output=awkward, state_after="cut", verified=False, error=awkward,
                  detail=awkward),
        NewChange(at=datetime(2026, 11, 25, 23, 59, 59, 999999, tzinfo=UTC), kind="intent",
                  action="restore", actor="r", verified=True, detail=""),
    ])  # fmt: skip

    def no_fallback(self, seq, prev_hash):  # noqa: ANN001, ANN202 - the method's signature
        raise AssertionError(f"record {seq} fell back to the exact path")

    monkeypatch.setattr(_StoredRecords, "exact", no_fallback)
    monkeypatch.setattr(_StoredRecords, "json_in_sqlite", json_in_sqlite)
    report = verify_store(store.engine)
    assert report.ok and report.records == 3, report.problems


def test_sqlite_escapes_every_character_as_the_json_module_does():
    """The premise of SQLite's json_object() as the fast path: every code point is written as
    `json.dumps(..., ensure_ascii=False)` writes it."""
    import sqlite3
    from json.encoder import encode_basestring

    connection = sqlite3.connect(":memory:")
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    for start in range(0, len(points), 500):
        chunk = points[start : start + 500]
        quoted = connection.execute(
            "SELECT " + ", ".join(["json_quote(?)"] * len(chunk)), chunk
        ).fetchone()
        assert list(quoted) == [encode_basestring(p) for p in chunk]
    connection.close()


def test_a_value_the_fast_reader_does_not_take_is_judged_the_exact_way(audited):
    """Another text form of the same instant is the same record to the ORM; the text 'null'
    where an integer was null is not."""
    if not audited["url"].startswith("sqlite"):
        pytest.skip("PostgreSQL's types hold neither")
    at = query(audited["url"], "SELECT at FROM changes WHERE seq = 3")[0]
    assert at.endswith(".000000") or len(at) == 26
    seq = query(audited["url"], "SELECT min(seq) FROM changes WHERE line_id IS NULL")[0]
    tamper(audited["url"], "UPDATE changes SET at = replace(at, ' ', 'T') WHERE seq = 3")
    assert verify(audited).exit_code == 0, "the same instant, as SQLAlchemy reads it"
    tamper(audited["url"], f"UPDATE changes SET line_id = 'null' WHERE seq = {seq}")
    result = verify(audited)
    assert result.exit_code == 1
    assert f"seq {seq}: edited" in result.output


def test_a_value_of_a_type_no_json_holds_is_named_as_an_edit(audited):
    if not audited["url"].startswith("sqlite"):
        pytest.skip("PostgreSQL's types hold no such value")
    tamper(audited["url"], "UPDATE changes SET detail = CAST(detail AS BLOB) WHERE seq = 4")
    result = verify(audited)
    assert result.exit_code == 1, result.output
    assert "first bad sequence number 4" in result.output and "seq 4: edited" in result.output


def test_an_append_the_database_refuses_raises_as_sqlalchemy_does_and_leaves_nothing(
    store, database_url
):
    """The append path writes through the DB-API cursor; its errors still arrive as
    SQLAlchemy's, and the transaction leaves neither the record nor its output."""
    from controller.changelog import NewChange

    tamper(database_url, "INSERT INTO change_orders (seq, order_id) VALUES (1, 5)")
    cut = NewChange(at=store.clock.now(), kind="outcome", action="cut", actor="test",
                    order_ids=[5], device_output="R1(config)#")  # fmt: skip
    with pytest.raises(sa.exc.IntegrityError):
        store.append([cut])
    with store.engine.connect() as connection:
        left = connection.exec_driver_sql(
            "SELECT (SELECT count(*) FROM changes), (SELECT count(*) FROM device_outputs)"
        ).one()
    assert tuple(left) == (0, 0)
    assert store.log_admin("token_created", "test").seq == 1, "the log goes on from where it was"
