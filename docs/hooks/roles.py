"""MkDocs hook: the role tables of the security page are rendered from `testgen.api.access.ROUTE_RULES`,
the rules the app enforces, never retyped.

At each build it creates the FastAPI app with offline settings (its lifespan never runs: no Redis, no
database, no network), pairs each of its routes with its rule, and replaces the `[ROLE_TABLES]` tag of
a page with two tables: what each role may do beyond the ones below it, and every route with the
lowest role that may call it and the audit action a successful call records.
"""

from __future__ import annotations

import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testgen.api.access import ROUTE_RULES, Reach, Rule
from testgen.api.app import create_app
from testgen.api.http_methods import flat_routes
from testgen.core.config import Settings
from testgen.domain.roles import Role

TAG = "[ROLE_TABLES]"
SERVER_ADMIN = "server admin"
# Who may call a route, from the widest to the narrowest: the rows of the tables, in this order.
LEVELS = ["anyone, signed in or not", "anyone signed in", *(role.value for role in Role), SERVER_ADMIN]
MEMBER = "a member of the object's project with this role or a higher one"
WHO = {
    LEVELS[0]: "no credential needed",
    LEVELS[1]: "a user, a personal token or an API key; lists hold only the caller's projects",
    **{role.value: MEMBER for role in Role},
    SERVER_ADMIN: "a user made server admin, or one of API_KEYS: the admin of every project",
}

_tables = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    name: str
    rule: Rule

    @property
    def level(self) -> str:
        if self.rule.reach is Reach.open:
            return LEVELS[0]
        if self.rule.reach is Reach.signed_in:
            return LEVELS[1]
        if self.rule.reach is Reach.server_admin:
            return SERVER_ADMIN
        return (self.rule.role or Role.viewer).value

    @property
    def label(self) -> str:
        return self.name.replace("_", " ")


def operations() -> list[Operation]:
    """Every route of the app that has a rule, in the order of LEVELS, then by path."""
    with tempfile.TemporaryDirectory(prefix="testgen-docs-") as data_dir:
        settings = Settings(_env_file=None, llm_provider="offline", data_dir=Path(data_dir))
        app = create_app(settings)
    found = [
        Operation(method, str(route.path), str(route.name), ROUTE_RULES[str(route.name)])
        for route in flat_routes(app.routes)
        if str(route.name) in ROUTE_RULES
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]
    return sorted(found, key=lambda op: (LEVELS.index(op.level), op.path, op.method))


def role_tables(found: list[Operation]) -> str:
    by_level: dict[str, list[Operation]] = defaultdict(list)
    for op in found:
        by_level[op.level].append(op)
    lines = [
        "| Who | Is | May, besides what the rows above may |",
        "| --- | --- | --- |",
    ]
    for level in LEVELS:
        names = sorted({op.label for op in by_level[level]})
        lines.append(f"| **{level}** | {WHO[level]} | {', '.join(names) or '-'} |")
    lines += [
        "",
        "| Request | Route | Lowest role | Audit action |",
        "| --- | --- | --- | --- |",
    ]
    for op in found:
        audit = f"`{op.rule.audit}`" if op.rule.audit else "-"
        lines.append(f"| `{op.method} {op.path}` | {op.label} | {op.level} | {audit} |")
    return "\n".join(lines)


def on_config(config: Any) -> Any:
    global _tables
    _tables = role_tables(operations())
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if TAG in markdown:
        return markdown.replace(TAG, _tables)
    return markdown
