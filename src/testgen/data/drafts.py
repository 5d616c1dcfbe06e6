"""A completed generation job's result read as a draft: the test cases a reviewer saves or edits."""

from __future__ import annotations

from testgen.data.job_states import SAVE
from testgen.data.models import GenerationJob
from testgen.domain.job_results import DraftResult
from testgen.domain.test_cases import TestCaseDraft


def draft_result(job: GenerationJob) -> DraftResult | None:
    """A generation job's draft (None until it completed)."""
    return DraftResult.model_validate(job.result) if job.result else None


def draft_cases(job: GenerationJob) -> list[TestCaseDraft]:
    draft = draft_result(job)
    return draft.test_cases if draft is not None else []


def is_open_draft(job: GenerationJob) -> bool:
    """Completed, and neither saved nor discarded: a save or a regeneration may still change it."""
    return job.status in SAVE.sources and job.saved_at is None
