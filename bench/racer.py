"""One process of the dedup race: enqueue every key once, starting on the driver's signal.

All racers take the keys in the same order, so they collide on the same key at once.
`python -m bench.racer QUEUE KEY...`; prints `ready`, waits for a line on stdin, enqueues,
prints `created N`.
"""

import sys

import django

django.setup()

from bench.jobs import NoopJob  # noqa: E402


def main() -> None:
    queue, keys = sys.argv[1], sys.argv[2:]
    print("ready", flush=True)
    sys.stdin.readline()
    created = sum(
        NoopJob().run_in_worker(queue=queue, concurrency_key=key) is not None for key in keys
    )
    print(f"created {created}", flush=True)


if __name__ == "__main__":
    main()
