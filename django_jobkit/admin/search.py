"""The lists' search: error text and parameters of results, bounded so that it stays fast.

A substring search (`ILIKE '%…%'`) uses no index, so over millions of results it reads every
row. The search box therefore looks in the `SEARCH_ROWS` most recent results only, and says so
in its help text. A whole uuid is the exception: it is looked up in the uuid columns of the
whole table (each indexed), so a job is found by its id however old it is. The requests list
is bounded the same way, by the requests written last (`NewestSearchMixin`).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

#: How many of the most recent results a text search reads.
SEARCH_ROWS = 10_000

#: Columns a whole uuid is looked up in, over the whole table (each has an index).
UUID_COLUMNS = ("uuid", "job_request_uuid", "root_uuid")


class BoundedSearchMixin(admin.ModelAdmin):  # type: ignore[type-arg]
    search_rows = SEARCH_ROWS
    uuid_columns: tuple[str, ...] = UUID_COLUMNS
    search_help_text = (
        f"A whole uuid is found among all results; other text (a short uuid too) is looked for "
        f"in the error, parameters, job class, concurrency key and request uuid of the "
        f"{SEARCH_ROWS:,} most recent results."
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        try:
            wanted = uuid.UUID(term)
        except ValueError:
            pass
        else:
            match = Q()
            for column in self.uuid_columns:
                match |= Q(**{column: wanted})
            return queryset.filter(match), False
        return super().get_search_results(request, self.search_window(queryset), term)

    def search_window(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        """The rows a text search reads: the `search_rows` most recent results."""
        return queryset.most_recent(self.search_rows)  # type: ignore[attr-defined]


class NewestSearchMixin(BoundedSearchMixin):
    """The same bound for the requests list, whose order is not by time: a text search reads
    the `search_rows` requests written last (by primary key), a whole uuid the whole table."""

    uuid_columns = ("job_request_uuid", "root_uuid")
    search_help_text = (
        f"A whole uuid is found among all requests; other text (a short uuid too) is looked "
        f"for in the request uuid, job class and concurrency key of the {SEARCH_ROWS:,} "
        f"requests written last."
    )

    def search_window(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.newest(self.search_rows)  # type: ignore[attr-defined]
