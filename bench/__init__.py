"""Benchmarks of django-jobkit against raw Celery, run by `python bench/run.py` (see README.md).

Also a Django app (listed in `bench.settings`) whose `jobs.py` holds the benchmark's jobs.
"""
