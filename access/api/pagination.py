"""Paging for every API list: `?limit=` is capped, so no client can ask for a page the database
cannot express (a limit past bigint was a 500) or one that reads the whole table."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

MAX_PAGE_SIZE = 200


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """DRF's limit/offset paging, with a ceiling.

    A non-numeric, zero or negative `limit` falls back to PAGE_SIZE and one above MAX_PAGE_SIZE is
    cut to it (DRF's own rules, given a `max_limit`); an unusable `offset` reads as 0, and one past
    the last row answers an empty page without querying it.
    """

    max_limit = MAX_PAGE_SIZE
