"""Paged list answers for API views built on `ApiView` (not DRF's generic views): the project's
paginator (REST_FRAMEWORK's DEFAULT_PAGINATION_CLASS, bounded), and the page's schema."""

from __future__ import annotations

from functools import cache
from typing import Any, cast

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from rest_framework import serializers
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView


def page_response(
    request: Request,
    view: APIView,
    queryset: QuerySet[Any],
    serializer_class: type[serializers.Serializer],
    context: dict[str, Any] | None = None,
) -> Response:
    paginator_class = cast(type[BasePagination] | None, api_settings.DEFAULT_PAGINATION_CLASS)
    if paginator_class is None:
        raise ImproperlyConfigured("REST_FRAMEWORK['DEFAULT_PAGINATION_CLASS'] must be set.")
    paginator = paginator_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    if page is None:  # the paginators page whenever PAGE_SIZE is set
        raise ImproperlyConfigured("REST_FRAMEWORK['PAGE_SIZE'] must be set.")
    items = serializer_class(page, many=True, context=context or {}).data
    return paginator.get_paginated_response(items)


@cache
def page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The schema of one page of `item`s (`count` only where the paginator counts)."""
    return type(
        f"{item.__name__.removesuffix('Serializer')}PageSerializer",
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(required=False),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )
