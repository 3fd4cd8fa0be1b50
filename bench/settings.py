"""Django settings of the jobkit benchmark: example_project's, plus the `bench` app's jobs.

Everything that decides performance (database options, Celery settings) is example_project's,
that is what users start from; only DEBUG is forced off and the remote-control exchanges are
renamed so bench workers never answer other workers' broadcasts.
"""

import os

from bench.common import CONTROL_EXCHANGE, EVENT_EXCHANGE
from example_project.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "bench"]  # noqa: F405
DEBUG = False
CELERY_CONTROL_EXCHANGE = CONTROL_EXCHANGE
CELERY_EVENT_EXCHANGE = EVENT_EXCHANGE

# BENCH_WORKER_SWEEPS=0: without the workers' turns at the sweep, to see what they cost.
if os.environ.get("BENCH_WORKER_SWEEPS") == "0":
    JOBKIT_WORKER_SWEEPS = False
