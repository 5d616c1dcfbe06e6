"""A completed generation job's result read as a draft: the test cases a reviewer saves or edits."""

from __future__ import annotations

from testgen.data.job_states import SAVE
from testgen.data.models import GenerationJob
from testgen.domain.test_cases import TestCaseDraft


def draft_cases(job: GenerationJob) -> list[TestCaseDraft]:
    return [TestCaseDraft.model_validate(case) for case in (job.result or {}).get("test_cases", [])]


def is_open_draft(job: GenerationJob) -> bool:
    """Completed, and neither saved nor discarded: a save or a regeneration may still change it."""
    return job.status in SAVE.sources and job.saved_at is None
