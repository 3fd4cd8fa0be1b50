"""jobkit stamps its messages from a template instead of building each with Celery; the message it
sends must be the one Celery's `apply_async` sends for the same task and options, read back
from the real broker. A Celery upgrade that changes the protocol fails here, not in production.
"""

from __future__ import annotations

from typing import Any

import pytest

from django_jobkit.enqueue import publish
from django_jobkit.execution.tasks import task_for
from django_jobkit.models import JobRequest
from tests.jobs import EchoJob

pytestmark = pytest.mark.django_db(transaction=True)

#: Message fields that may differ between two sends of the same message (where it went and
#: the broker's own bookkeeping), and `reply_to`: apply_async names this process's reply
#: queue for a result that a job task never sends (jobkit records results in its own tables).
PER_SEND = {"delivery_info", "delivery_tag", "reply_to", "body_encoding"}


def read_back(app: Any, queue: str) -> Any:
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        message = channel.basic_get(queue=queue, no_ack=True)
        assert message is not None, f"no message in {queue}"
        return channel.message_to_python(message)


def shape(message: Any) -> dict[str, Any]:
    properties = {k: v for k, v in message.properties.items() if k not in PER_SEND}
    return {
        "headers": message.headers,
        "properties": properties,
        "body": message.decode(),
        "content_type": message.content_type,
        "content_encoding": message.content_encoding,
    }


@pytest.mark.parametrize(
    "options", [{}, {"priority": 7, "timeout": 10}, {"delay": 30}], ids=["plain", "limits", "eta"]
)
def test_a_stamped_message_is_the_one_apply_async_sends(
    celery_app, fresh_queue, options: dict[str, Any]
):
    stamped_queue, celery_queue = fresh_queue(), fresh_queue()
    request = EchoJob().run_in_worker(queue=stamped_queue, **options)  # stamped on send
    assert request is not None and request.sent_at is not None
    request = JobRequest.objects.get(pk=request.pk)
    sent_options = publish.publish_options(request)
    assert publish.Publisher(celery_app, None, retry=False)._plan(request)[2] is not None
    sent_options["queue"] = celery_queue
    task_id = str(request.job_request_uuid)
    task_for(request.job_class).apply_async(args=[task_id], task_id=task_id, **sent_options)

    stamped, built = read_back(celery_app, stamped_queue), read_back(celery_app, celery_queue)
    assert shape(stamped) == shape(built)
    assert stamped.headers["id"] == task_id and stamped.headers["task"] == request.job_class
