"""`arq workers.WorkerSettings` (run from the repository root) starts a testgen worker.

arq reads the attributes of this class, so they are resolved from the settings (environment and
.env) when the module is imported; nothing connects until the worker starts.
"""

from testgen.core.config import Settings
from testgen.worker.functions import worker_options

_options = worker_options(Settings())


class WorkerSettings:
    functions = _options["functions"]
    on_startup = _options["on_startup"]
    on_shutdown = _options["on_shutdown"]
    redis_settings = _options["redis_settings"]
    queue_name = _options["queue_name"]
    job_serializer = _options["job_serializer"]
    job_deserializer = _options["job_deserializer"]
    poll_delay = _options["poll_delay"]
    max_jobs = _options["max_jobs"]
    queue_read_limit = _options["queue_read_limit"]
    job_timeout = _options["job_timeout"]
    keep_result = _options["keep_result"]
    max_tries = _options["max_tries"]
    allow_abort_jobs = _options["allow_abort_jobs"]
    job_completion_wait = _options["job_completion_wait"]
    health_check_interval = _options["health_check_interval"]
