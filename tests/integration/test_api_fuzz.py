"""Schemathesis against the app's own OpenAPI schema, every check it has, with every role's token.

Every operation gets generated cases, schema-valid and schema-breaking (bodies, queries, path
parameters), sent to an app on a real store. Each response must be documented with its status
code and match its schema; no 5xx; a breaking request is refused; a valid one is accepted, or
refused for what no schema can state, which the API marks as such (`not_found`, `inconsistent`,
or an inventory whose rows do not fit together or with the store).
"""

from __future__ import annotations

import copy
import time
from datetime import datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, positive_data_acceptance
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from api.app import create_app
from controller.bounds import INCONSISTENT, NOT_FOUND
from controller.clock import SimulatedClock
from controller.inventory import import_document
from controller.settings import Settings
from controller.store import Store
from controller.tokens import create_token
from tests.conftest import ADMIN_TOKEN, SHANGHAI, SMALL_CITY

# per operation and mode: about 650 requests for the admin, who reaches every operation's
# handler; the other roles are refused most operations before any handler runs (what each
# role may do is test_access's matrix), so fewer cases find what they can; on PostgreSQL the
# admin gets half as many again (what differs there is the store's, not the schema's)
EXAMPLES = {"admin": 8, "bureau": 4, "noc": 4, "auditor": 4}
POSTGRESQL_EXAMPLES = 4
SEMANTIC = {NOT_FOUND, INCONSISTENT}


def refused_for_what_no_schema_states(response) -> bool:
    """A 422 to a schema-valid request that the schema could not have prevented: a venue or an
    authority that does not exist, an end before its start, an inventory line on an unknown
    venue. Any other 422 to valid input is a schema that promises too much."""
    if response.status_code != 422:
        return False
    detail = response.json()["detail"]
    if isinstance(detail, dict):  # the inventory's rows passed the schema, not each other
        return set(detail) == {"message", "problems"}
    return isinstance(detail, list) and all(e["type"] in SEMANTIC for e in detail)


def token_for(role: str, store: Store) -> str:
    if role == "admin":
        return ADMIN_TOKEN
    authority = "city-bureau" if role == "bureau" else None
    return create_token(store, role, "fuzz", authority=authority)[1]


@pytest.mark.parametrize(
    ("role", "database"),
    [("admin", "sqlite"), ("bureau", "sqlite"), ("noc", "sqlite"), ("auditor", "sqlite"),
     ("admin", "postgresql")],
)  # fmt: skip
def test_every_check_holds_for_every_operation_and_role(
    role: str, database: str, request: pytest.FixtureRequest, tmp_path: Path
):
    url = (
        request.getfixturevalue("postgres_url")
        if database == "postgresql"
        else f"sqlite:///{tmp_path / 'curfew.db'}"
    )
    store = Store.open(url, clock=SimulatedClock(datetime(2026, 11, 24, 22, tzinfo=SHANGHAI)))
    import_document(store, copy.deepcopy(SMALL_CITY), "small city")
    app = create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN), store)
    # the token as the schema's own security scheme: cases that drop it are sent without it
    bearer = {"auth": {"openapi": {"HTTPBearer": {"bearer": token_for(role, store)}}}}
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", app, config=SchemathesisConfig.from_dict(bearer)
    )
    failures: dict[str, str] = {}
    requests = 0
    examples = POSTGRESQL_EXAMPLES if database == "postgresql" else EXAMPLES[role]

    def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode) -> None:
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
            derandomize=True, database=None, phases=[Phase.explicit, Phase.generate],
        )  # fmt: skip
        def check(case: schemathesis.Case) -> None:
            nonlocal requests
            requests += 1
            response = case.call()
            excluded = (
                [positive_data_acceptance] if refused_for_what_no_schema_states(response) else []
            )
            if operation.path == "/readyz" and response.status_code == 503:
                excluded.append(not_a_server_error)  # "not ready" is its documented answer
            try:
                case.validate_response(response, excluded_checks=excluded)
            except BaseExceptionGroup as group:
                for failure in group.exceptions:
                    title = f"{operation.label} [{mode.value}]: {type(failure).__name__}"
                    failures.setdefault(title, f"{failure}\n{response.text[:300]}")

        try:
            check()
        except Unsatisfiable:
            # nothing to break in an operation without parameters or body
            assert mode is GenerationMode.NEGATIVE, operation.label

    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)
    elapsed = time.monotonic() - started
    store.close()
    print(f"{role}/{database}: {len(operations)} operations, {requests} requests, {elapsed:.0f} s")
    assert len(operations) >= 25, "the schema lists the API's operations"
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in sorted(failures.items()))
