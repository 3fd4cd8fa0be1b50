"""One racer of the dedup test: enqueue every key once, starting on the parent's signal.

All racers take the keys in the same order, so they collide on the same key at once.

Run as `python -m tests.integration.race_enqueue QUEUE KEY...` with the test database's
environment; prints `ready`, waits for a line on stdin, enqueues, prints how many it created.
"""

import sys

import django

django.setup()

from tests.jobs import NoopJob  # noqa: E402


def main() -> None:
    queue, keys = sys.argv[1], sys.argv[2:]
    print("ready", flush=True)
    sys.stdin.readline()
    created = sum(NoopJob(queue=queue, key=key).run_in_worker() is not None for key in keys)
    print(f"created {created}", flush=True)


if __name__ == "__main__":
    main()
