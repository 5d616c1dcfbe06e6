"""The rule of every route lives in one table (api/access.py ROUTE_RULES): every operation of the
OpenAPI document is walked against every role, and a route without a rule fails the walk."""

from __future__ import annotations

import pytest

from testgen.api.access import ROUTE_RULES
from testgen.core.config import Settings
from tests.support.route_walk import (
    expectation,
    missing_payloads,
    operations,
    route_names,
    seed,
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The walk sends one request without a credential to every route from one address: more failed
    # authentications than a minute allows (the limit has its own tests).
    settings.auth_failures_per_minute = 0
    return settings


def test_every_route_has_a_rule_and_every_rule_a_route(app) -> None:  # type: ignore[no-untyped-def]
    names = {op.name for op in operations(app)}
    without_rule = sorted(names - set(ROUTE_RULES))
    without_route = sorted(set(ROUTE_RULES) - route_names(app))
    assert not without_rule, f"Routes without a rule in api/access.py ROUTE_RULES: {without_rule}"
    assert not without_route, f"Rules in api/access.py ROUTE_RULES that name no route: {without_route}"


async def test_every_operation_against_every_role(app, client, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    ops = operations(app)
    assert not missing_payloads(ops), (
        "Operations with a required body the walk cannot build: add it to PAYLOADS, or to NO_BODY in "
        f"tests/support/route_walk.py: {missing_payloads(ops)}"
    )
    world = await seed(app, client, sessionmaker)
    problems: list[str] = []
    for op in ops:
        rule = op.rule
        if rule is None:
            problems.append(f"{op}: no rule in ROUTE_RULES")
            continue
        for caller in [None, *world.callers.values()]:
            response = await world.send(op, caller)
            wanted, holds = expectation(rule, caller)
            if not holds(response.status_code):
                problems.append(
                    f"{op} as {caller or 'nobody'}: {response.status_code}, wanted {wanted}: "
                    f"{response.text[:300]}"
                )
    assert not problems, "\n".join(problems)
