"""The product's own types, shared by the request side, the job side and the command line.

Nothing here knows HTTP (the API's request and response models live in `testgen.api.schemas`, built
from these) or the database (the rows store these types as JSON).

- `text_fields`: the constrained texts (ids, titles, criteria, steps) and their limits.
- `stories`: `Priority`, `StoryContent` (a story's own fields), `MAX_CRITERIA`.
- `test_cases`: `TestType`, `Scenario`, `TestCaseDraft`.
- `exports`: `ExportFormat`, `XrayTestType`, `JiraProjectKey`.
- `job_options`: each job kind's options (`GenerateJobOptions`, `RegenerateJobOptions`,
  `JiraImportJobOptions`) and the limits of a draft (`DEFAULT_TEST_CASES`, `MAX_TEST_CASES`,
  `DEFAULT_SCENARIOS_PER_CASE`, `MAX_SCENARIOS_PER_CASE`, ...).
- `job_results`: each job kind's result (`DraftResult`, `RegenerationResult`, `JiraImportResult`)
  and their parts (`Coverage`, `QualityReport`, `ReportedDuplicate`, `CallSummary`, ...).
- `job_errors`: `ErrorType`, every error type a failed job carries, and `JobError`.
- `job_snapshots`: `JobSnapshot`, a job's live state as JSON (stored in Redis, sent in events,
  returned by the status API), and the JSON forms of the options, results and error above
  (`JobOptionsJSON`, `JobResultJSON`, `JobErrorJSON`, ...).
- `optional_keys`: `optional_key()`, a field the JSON carries only when it has a value.
"""
