"""Project roles, the review gate's states and actions: the names the API, the page and the CLI share."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A member's role in one project; each role may do what the ones before it may."""

    viewer = "viewer"  # read and export
    editor = "editor"  # stories, generation, drafts, imports
    reviewer = "reviewer"  # an editor who also approves and saves drafts
    admin = "admin"  # project settings, members, budgets, provider

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {role: rank for rank, role in enumerate(Role)}


class MemberSource(StrEnum):
    """Who gave a member its role: an admin in testgen, or the OpenID Provider's claim
    (OIDC_PROJECT_ROLES), which each sign-in brings in line and never touches a hand-set one."""

    manual = "manual"
    oidc_claim = "oidc_claim"


class ReviewState(StrEnum):
    """Where a completed draft stands in review (a draft never submitted has none)."""

    in_review = "in_review"
    approved = "approved"
    changes_requested = "changes_requested"


class ReviewAction(StrEnum):
    submit = "submit"
    approve = "approve"
    request_changes = "request_changes"


REVIEW_STATE_AFTER = {
    ReviewAction.submit: ReviewState.in_review,
    ReviewAction.approve: ReviewState.approved,
    ReviewAction.request_changes: ReviewState.changes_requested,
}
