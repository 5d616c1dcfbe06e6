"""The HTTP API's request and response models, by area; the types they carry (test cases, job
options and results, error types) are the product's own, in `testgen.domain`.

- `common`: what several areas share (`ORMModel`, `RowId`, `Count`, `LanguageTag`, ...).
- `projects`: projects, their LLM choice and token usage.
- `stories`: user stories.
- `test_cases`: saved test cases, and saving a reviewed draft.
- `jobs`: queueing jobs and their state (`JobStatusOut`, one model per job kind).
- `imports`: the Jira import request.
"""
