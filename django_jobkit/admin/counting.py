"""The lists' counts: estimated when unfiltered on PostgreSQL, capped everywhere else.

Django's admin counts every list twice with `COUNT(*)` (the paginator, and the "N total" of
the unfiltered table), and over a million results each count reads every row. Here the
unfiltered count of a large PostgreSQL table is the planner's estimate (`pg_class.reltuples`,
kept by ANALYZE and autovacuum), and any other count stops at `COUNT_CAP` rows (a COUNT over a
LIMITed subquery), shown as "more than N": enough to page through, never a full scan. On
SQLite and MariaDB, where no such estimate is read, every count is the capped one.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet

#: A count stops here: the rows past it are "more than N" (20 pages of the lists' 50). A
#: filter that matches one row in thirty reads some 30,000 rows to reach it; ten times more
#: took a quarter of a second over a million results (bench/admin_scale.py).
COUNT_CAP = 1_000


def estimated_rows(queryset: QuerySet[Any]) -> int | None:
    """The planner's row estimate of the queryset's table on PostgreSQL; None elsewhere, or
    when the table was never analyzed (reltuples is -1 then)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < 0:
        return None
    return int(row[0])


def capped_count(queryset: QuerySet[Any], cap: int) -> int:
    """How many rows the queryset has, but at most `cap + 1`: the database stops reading
    there (the slice becomes a LIMIT inside the COUNT's subquery)."""
    return int(queryset.order_by().values("pk")[: cap + 1].count())


def is_unfiltered(queryset: QuerySet[Any]) -> bool:
    """True when the queryset reads the whole table: no WHERE and no DISTINCT (annotations
    and ordering do not change the number of rows)."""
    query = queryset.query
    return not query.where and not query.distinct and query.low_mark == 0 and not query.high_mark


class BoundedPaginator(Paginator):  # type: ignore[type-arg]
    """A paginator whose count never scans a large table.

    `count` is exact up to `cap`; past it, `capped` is True and the count is the estimate
    (unfiltered, on PostgreSQL) or `cap` itself: the pages offered then end at `cap` rows,
    and the list says "more than" (the `estimated` flag says "about")."""

    cap = COUNT_CAP

    def __init__(self, object_list: Any, per_page: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.capped = False
        self.estimated = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        if is_unfiltered(queryset):
            estimate = estimated_rows(queryset)
            if estimate is not None and estimate > self.cap:
                self.estimated = True
                return estimate
        rows = capped_count(queryset, self.cap)
        if rows > self.cap:
            self.capped = True
            return self.cap
        return rows


class BoundedCountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """The bounded paginator, no second count of the whole table, and pages of 50 rows:
    each row is two lines tall, and rendering a row's cells is most of a page's time."""

    paginator = BoundedPaginator
    show_full_result_count = False
    list_per_page = 50
