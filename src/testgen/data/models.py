"""ORM models (SQLAlchemy 2, typed). The schema itself is created only by Alembic."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from testgen.data.job_states import ACTIVE, JobKind, JobStatus

# The partial index below, as SQL (the migration that created it spells out the same condition).
_LIVE_GENERATION = text(
    "status IN ({}) AND kind = '{}'".format(
        ", ".join(f"'{s.value}'" for s in JobStatus if s in ACTIVE), JobKind.generate.value
    )
)


# At most one live Jira import per project (the migration that created it spells out the same condition).
_LIVE_IMPORT = text(
    "status IN ({}) AND kind = '{}'".format(
        ", ".join(f"'{s.value}'" for s in JobStatus if s in ACTIVE), JobKind.import_jira.value
    )
)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012
        dt.datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[str]: JSON,
        list[int]: JSON,
        list[dict[str, Any]]: JSON,
    }


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # The LLM that writes this project's test cases; NULL: the server's default provider / its model.
    llm_provider: Mapped[str | None] = mapped_column(String(32))
    llm_model: Mapped[str | None] = mapped_column(String(200))
    # BCP 47; set: the language of every story of the project that has none of its own.
    language: Mapped[str | None] = mapped_column(String(35), default=None)
    # House style, test-design method, domain vocabulary: sent to the model below the system rules.
    instructions: Mapped[str] = mapped_column(Text, default="", server_default="")
    token_budget_daily: Mapped[int | None] = mapped_column(Integer)  # NULL: no budget
    # The test-design techniques of a job that names none (domain/techniques.py); NULL: the built-in mix.
    default_techniques: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # The review gate: a draft is saved only once approved (by someone else, unless self-approval is on).
    review_required: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    allow_self_approval: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    default_delivery: Mapped[str | None] = mapped_column(String(16), default=None)  # bulk's; NULL: standard
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class UserStory(Base):
    __tablename__ = "user_stories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    acceptance_criteria: Mapped[list[str]] = mapped_column(default=list)
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    jira_url: Mapped[str | None] = mapped_column(String(600), default=None)  # set by a Jira import
    source_url: Mapped[str | None] = mapped_column(String(600), default=None)  # GitHub or Azure DevOps
    # From a Jira import that asked for them (NULL: never imported): the newest comments first, as text;
    # the linked issues ({key, summary, relation}); the sub-tasks' summaries.
    comments: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    linked_issues: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    subtasks: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    language: Mapped[str | None] = mapped_column(String(35), default=None)  # BCP 47, chosen by a user
    # Detected from the text whenever it changes (core/languages.py); UNDETERMINED: too short to tell;
    # NULL: not detected yet (a story older than detection), detected when a job needs it.
    detected_language: Mapped[str | None] = mapped_column(String(8), default=None)
    # Goes up by one each time the acceptance criteria change (see StoryRevision).
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StoryRevision(Base):
    """The acceptance criteria of a story as they were at one revision."""

    __tablename__ = "story_revisions"
    __table_args__ = (UniqueConstraint("story_id", "revision", name="uq_story_revisions_story_revision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    story_id: Mapped[str] = mapped_column(ForeignKey("user_stories.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int] = mapped_column(Integer)
    acceptance_criteria: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StoryAttachment(Base):
    """A file of a story (a screenshot, a PDF, a text file): its content is kept once per sha256 in
    the attachment store (data/attachment_store.py); the text of a PDF or a text file is kept here,
    so generation reads it without parsing the file again."""

    __tablename__ = "story_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    story_id: Mapped[str] = mapped_column(ForeignKey("user_stories.id", ondelete="CASCADE"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))  # as found in the bytes, not the name
    kind: Mapped[str] = mapped_column(String(16))  # domain/attachments.py AttachmentKind
    size: Mapped[int] = mapped_column(Integer)  # of the stored content
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    width: Mapped[int | None] = mapped_column(Integer)  # images
    height: Mapped[int | None] = mapped_column(Integer)
    pages: Mapped[int | None] = mapped_column(Integer)  # PDFs
    text: Mapped[str | None] = mapped_column(Text)  # PDFs and text files
    created_by: Mapped[int | None] = mapped_column(Integer)  # a user id; no foreign key (outlives users)
    # Where an imported one came from ("jira:{attachment id}:{size}"): a re-import skips it. NULL: uploaded.
    source_ref: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TestCase(Base):
    __tablename__ = "test_cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    story_id: Mapped[str] = mapped_column(ForeignKey("user_stories.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    preconditions: Mapped[list[str]] = mapped_column(default=list)
    priority: Mapped[str] = mapped_column(String(16), default="medium")
    test_type: Mapped[str] = mapped_column(String(16), default="functional")
    scenarios: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    covered_criteria: Mapped[list[int]] = mapped_column(default=list)
    task_id: Mapped[str | None] = mapped_column(String(36), index=True)
    provider: Mapped[str | None] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(100))
    # The story's revision when saved, and the text of each covered criterion then (stale detection).
    story_revision: Mapped[int | None] = mapped_column(Integer)
    criteria_texts: Mapped[list[str] | None] = mapped_column(JSON)
    # Who approved the draft this test case was saved from (NULL: saved without a review).
    approved_by: Mapped[int | None] = mapped_column(Integer)  # a user id; no foreign key (outlives users)
    approved_at: Mapped[dt.datetime | None] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class GenerationJob(Base):
    __tablename__ = "generation_jobs"
    __table_args__ = (
        # At most one live "generate" job per story, enforced by the database so that two racing
        # enqueue requests cannot both start one.
        Index(
            "uq_generation_jobs_active_story",
            "story_id",
            unique=True,
            sqlite_where=_LIVE_GENERATION,
            postgresql_where=_LIVE_GENERATION,
        ),
        Index(
            "uq_generation_jobs_active_import",
            "project_id",
            unique=True,
            sqlite_where=_LIVE_IMPORT,
            postgresql_where=_LIVE_IMPORT,
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # A story's job (generate, regenerate) has a story; a project's job (a Jira import) has a project.
    story_id: Mapped[str | None] = mapped_column(
        ForeignKey("user_stories.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True, default=None
    )
    kind: Mapped[str] = mapped_column(String(16), default=JobKind.generate.value)
    parent_id: Mapped[str | None] = mapped_column(String(36))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued.value)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Who queued it (NULL: a service key or the local admin), and its review (domain/roles.py).
    created_by: Mapped[int | None] = mapped_column(Integer)  # a user id; no foreign key (outlives users)
    review_state: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column()
    finished_at: Mapped[dt.datetime | None] = mapped_column()
    saved_at: Mapped[dt.datetime | None] = mapped_column()


class LLMUsage(Base):
    """The model calls and tokens one finished job spent, for budgets and the usage report."""

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_project_day", "project_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    day: Mapped[dt.date] = mapped_column(Date)  # UTC
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(200))
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # Of those, answered through a provider's Batch API (billed at usage.BATCH_PRICE_FACTOR)
    batch_calls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    batch_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Of prompt_tokens, served from the provider's prompt cache (implicit or explicit)
    cached_tokens: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("oidc_issuer", "oidc_subject", name="uq_users_oidc_identity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # lower-cased
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))  # NULL: signs in through OIDC only
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    oidc_issuer: Mapped[str | None] = mapped_column(String(500))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ApiToken(Base):
    """A personal API token: only its SHA-256 is kept, and a prefix to recognise it by."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    last_used_at: Mapped[dt.datetime | None] = mapped_column()
    revoked_at: Mapped[dt.datetime | None] = mapped_column()


class ProjectMember(Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id", name="uq_project_members_project_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # domain/roles.py Role
    # domain/roles.py MemberSource: set by an admin, or granted by the OpenID Provider's claim.
    source: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ReviewStep(Base):
    """One step of a draft's review: who submitted, approved or asked for changes, when, and why."""

    __tablename__ = "review_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("generation_jobs.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # domain/roles.py ReviewAction
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(320))  # the name shown, kept if the user goes
    comment: Mapped[str] = mapped_column(Text, default="")
    # Comments on single test cases: {"<index>": "comment"}.
    case_comments: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """An append-only record of one state-changing action. Never updated; pruned by age only."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_project_at", "project_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(400))  # `user:<email>`, `key:<key id>`, `local`
    actor_id: Mapped[int | None] = mapped_column(Integer)  # the user's id, kept after the user goes
    action: Mapped[str] = mapped_column(String(40), index=True)
    project_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: outlives the project
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(200))
    fields: Mapped[list[str]] = mapped_column(default=list)  # the names of what changed, never values


class Connection(Base):
    """A project's connection to a test-management tool or Jira (domain/connections.py)."""

    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_connections_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # no secret in here
    sealed_secrets: Mapped[str] = mapped_column(Text)  # Fernet, core/secret_box.py
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PushedCase(Base):
    """Where one saved test case lives in a connection's tool, and what was pushed: the sync's memory.

    Written right after the tool created the case, before the next call, so a push run again never
    creates it twice. `test_case_id` has no foreign key: the row outlives the test case, so that a
    deletion in testgen can be reported (and carried to the tool when asked)."""

    __tablename__ = "pushed_cases"
    __table_args__ = (
        UniqueConstraint("connection_id", "test_case_id", name="uq_pushed_cases_connection_case"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), index=True)
    test_case_id: Mapped[int] = mapped_column(Integer)
    story_id: Mapped[str] = mapped_column(String(64))
    remote_id: Mapped[str] = mapped_column(String(100))
    remote_key: Mapped[str | None] = mapped_column(String(100))
    remote_url: Mapped[str | None] = mapped_column(String(1000))
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the content pushed
    remote_version: Mapped[str | None] = mapped_column(String(100))  # as the tool reported it then
    pushed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
