"""`arq workers.WorkerSettings` (run from the repository root) starts a testgen worker.

arq accepts a dict of its Worker's options; ours comes from one function, resolved from the settings
(environment and .env) when this module is imported. Nothing connects until the worker starts.
"""

from testgen.core.config import Settings
from testgen.worker.options import worker_options

WorkerSettings = worker_options(Settings())
