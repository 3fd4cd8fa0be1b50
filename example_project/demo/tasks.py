"""A task of Django's tasks framework: enqueued with `.enqueue()`, run by jobkit's workers."""

from django_jobkit.tasks_backend import job_options

try:
    from django.tasks import task  # Django 6.0
except ImportError:  # Django 5.2, with the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]


@task
@job_options(retries=2, retry_delay=lambda attempt: 2**attempt)
def count_words(text: str) -> dict[str, int]:
    """How often each word occurs in `text`: stored on the result, shown in the admin."""
    counts: dict[str, int] = {}
    for word in text.split():
        counts[word] = counts.get(word, 0) + 1
    return counts
