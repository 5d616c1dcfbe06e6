"""How a push ended, as the command line prints it: the counts, then each test case that needs a look
(conflicts, failures, removals, Jira links that failed)."""

from __future__ import annotations

import sys

from testgen.cli.terminal_text import echo
from testgen.core.i18n import UI_DEFAULT, label
from testgen.domain.job_results import PushedCaseOut, PushResult


def _where(case: PushedCaseOut) -> str:
    return case.url or case.remote_key or "?"


def print_push(result: PushResult, language: str = UI_DEFAULT) -> None:
    def say(key: str, **params: object) -> str:
        return label(language, key, **params)

    for case in result.conflicts:
        echo(
            say(
                "cli.push_conflict",
                case=case.test_case_id,
                story=case.story_id,
                where=_where(case),
                message=case.message,
            )
        )
    for case in result.failed:
        echo(
            say("cli.push_case_failed", case=case.test_case_id, story=case.story_id, message=case.message),
            file=sys.stderr,
        )
    for case in result.removed:
        echo(
            say(
                "cli.push_removed",
                case=case.test_case_id,
                story=case.story_id,
                where=_where(case),
                message=case.message,
            )
        )
    for case in result.links_failed:
        echo(
            say("cli.push_link_failed", case=case.test_case_id, story=case.story_id, message=case.message),
            file=sys.stderr,
        )
    counts = result.counts
    if counts.skipped_unapproved:
        echo(say("cli.push_unapproved", count=counts.skipped_unapproved))
    if counts.linked:
        echo(say("cli.push_links", count=counts.linked))
    echo(
        say(
            "cli.push_summary",
            connection=result.connection,
            created=counts.created,
            updated=counts.updated,
            unchanged=counts.unchanged,
            conflicts=counts.conflicts,
            removed=counts.removed,
            failed=counts.failed,
        )
    )
