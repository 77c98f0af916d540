"""Schemathesis against the app's own OpenAPI schema: whatever the input, never a 5xx.

Every operation of the schema gets generated cases (valid and invalid bodies, queries and
path parameters), sent with an admin token to an app on a real SQLite store.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings

from api.app import create_app
from controller.settings import Settings
from controller.store import Store
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_no_input_makes_the_api_fail_with_a_5xx(city_store: Store):
    app = create_app(Settings(database_url="sqlite://", admin_token=ADMIN_TOKEN), city_store)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25, deadline=None, suppress_health_check=list(HealthCheck),
            derandomize=True, database=None,
        )  # fmt: skip
        def check(case: schemathesis.Case) -> None:
            response = case.call(headers=AUTH)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

        check()
    assert operations >= 20, "the schema lists the API's operations"
    assert failures == []
