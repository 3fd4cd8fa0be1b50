"""Server-sent events: the progress and final status of jobs, for pages that follow them.

`states` reads what the jobs came to from the records, `stream` turns successive readings
into an event stream (sync for WSGI, async for ASGI), `views` checks who asks and answers.
"""
