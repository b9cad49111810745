"""Paging for every API list: cursor pages, newest first, with a ceiling on their size.

A cursor (an opaque position, DRF's CursorPagination) rather than an offset: a client walking a
list that grows while it reads (new jobs arrive at the top) neither skips nor repeats rows, and a
deep page costs the database no more than the first.

`?limit=` is clamped, not refused: above MAX_PAGE_SIZE it is cut to it, and a non-numeric, zero or
negative one falls back to the default (DRF's own rules given `max_page_size`), so no client can
ask for a page that reads the whole table. A `?cursor=` that is not one we issued is a 400
naming it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

MAX_PAGE_SIZE = 200


class BoundedCursorPagination(CursorPagination):
    """Newest first by `created_at` (every model has one); views with another natural order
    subclass it and set `ordering` (the review queue: oldest first)."""

    ordering = "-created_at"
    page_size_query_param = "limit"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request: Request) -> int:
        return super().get_page_size(request) or settings.REST_FRAMEWORK["PAGE_SIZE"]

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError(
                {self.cursor_query_param: ["Not a cursor from this list; follow `next`."]}
            ) from None

    def page_of(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any]:
        """The page's rows; never None (PAGE_SIZE is always set)."""
        return list(self.paginate_queryset(queryset, request, view) or [])


class OldestFirstCursorPagination(BoundedCursorPagination):
    ordering = "created_at"


# The name list views imported before cursors; kept so branches written against it still merge.
BoundedLimitOffsetPagination = BoundedCursorPagination
