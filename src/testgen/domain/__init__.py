"""The product's own types, shared by the request side, the job side and the command line.

Nothing here knows HTTP: the API's request and response models live in `testgen.api.schemas` and
are built from these.

- `job_errors`: `ErrorType`, every error type a failed job can carry.
"""
