"""A database URL that cannot be used is one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from api.cli import app
from controller.db import database_url

runner = CliRunner()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("notaurl", "not a database URL: 'notaurl'"),
        ("mysql://a@b/c", "unsupported database 'mysql'"),
        # these commands only read: a missing SQLite file is no database, never a new one
        ("sqlite:////nonexistent-dir/x.db", "no such database: /nonexistent-dir/x.db"),
        (
            "postgresql+psycopg://nobody:hunter22@127.0.0.1:1/x",
            "cannot open the database postgresql+psycopg://nobody:***@127.0.0.1:1/x",
        ),
    ],
)
def test_an_unusable_database_url_is_named_and_exits_2(url: str, message: str) -> None:
    for command in (["changes"], ["report", "violations", "--since", "2026-11-24T00:00:00Z",
                                  "--until", "2026-11-25T00:00:00Z"]):  # fmt: skip
        result = runner.invoke(app, [*command, "--database-url", url])
        assert result.exit_code == 2, result.output
        assert message in result.output
        assert "hunter22" not in result.output, "the password is never printed"
        assert "Traceback" not in result.output


def test_a_command_that_creates_a_store_names_a_path_it_cannot_create() -> None:
    url = "sqlite:////nonexistent-dir/x.db"
    result = runner.invoke(app, ["token", "create", "--role", "auditor", "--database-url", url])
    assert result.exit_code == 2, result.output
    assert "cannot open the database sqlite:////nonexistent-dir/x.db" in result.output
    assert "Traceback" not in result.output


def test_a_bare_postgresql_url_means_the_shipped_driver() -> None:
    assert database_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert database_url("sqlite:///x.db").drivername == "sqlite"
