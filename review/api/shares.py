"""Share links over the API: create one for an approved output (with an expiry), list the caller's
with their view counts, revoke one. The same services as the output page (`share_link_create`,
`share_link_revoke`): only the owner shares, only approved outputs, checked there."""

from __future__ import annotations

from datetime import timedelta

from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from access.api.conflict import Conflict
from access.api.lists import page_of, page_response
from access.api.openapi import errors
from access.api.views import ApiView
from access.fields import StrictBooleanSerializerField, StrictIntegerSerializerField
from access.http import AuthenticatedRequest
from review.api.outputs import visible_output
from review.forms import SHARE_MAX_DAYS
from review.models import ShareLink
from review.selectors import share_links_of_user
from review.services import ReviewError, can_moderate, share_link_create, share_link_revoke


class ShareLinkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    output_id = serializers.UUIDField()
    url = serializers.SerializerMethodField(help_text="The public page anyone with it can open.")
    show_prompt = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="null: never expires.")
    revoked_at = serializers.DateTimeField(allow_null=True)
    active = serializers.BooleanField(
        source="is_active",
        help_text="Not revoked or expired. A link also stops resolving while the output is not "
        "approved or its owner's access is suspended.",
    )
    view_count = serializers.IntegerField()
    last_viewed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_url(self, link: ShareLink) -> str:
        page = reverse("shared_page", kwargs={"token": link.token})
        return self.context["request"].build_absolute_uri(page)


class ShareCreateSerializer(serializers.Serializer):
    expires_in_days = StrictIntegerSerializerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=SHARE_MAX_DAYS,
        help_text="Days until the link stops working; leave out (or null) for no expiry.",
    )
    show_prompt = StrictBooleanSerializerField(required=False, default=False)


class ShareListFilterSerializer(serializers.Serializer):
    output = serializers.UUIDField(required=False, help_text="Only the links of this output.")


SHARE_EXAMPLE = {
    "id": 12,
    "output_id": "5b0c1d7e-8a36-4c0e-9d1e-2f5a4f0c9b11",
    "url": "https://vernissage.example/s/3q2-7wEjrwq…/",
    "show_prompt": False,
    "expires_at": "2026-12-07T10:00:00Z",
    "revoked_at": None,
    "active": True,
    "view_count": 3,
    "last_viewed_at": "2026-11-30T11:00:00Z",
    "created_at": "2026-11-30T10:00:00Z",
}


class OutputShareView(ApiView):
    """POST: a new share link to one of the caller's approved outputs."""

    required_scopes = {"POST": "outputs:write"}
    serializer_class = ShareCreateSerializer

    @extend_schema(
        operation_id="outputs_shares_create",
        tags=["shares"],
        summary="Share an approved output (a public link, with an optional expiry)",
        request=ShareCreateSerializer,
        responses={201: ShareLinkSerializer, **errors(400, 404, 409)},
        examples=[
            OpenApiExample("A week", value={"expires_in_days": 7}, request_only=True),
            OpenApiExample("Created", value=SHARE_EXAMPLE, response_only=True),
        ],
    )
    def post(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        body = ShareCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        days = body.validated_data.get("expires_in_days")
        try:
            link = share_link_create(
                output=output,
                by=request.user,
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                show_prompt=body.validated_data["show_prompt"],
            )
        except ReviewError as exc:
            raise Conflict(str(exc)) from None
        data = ShareLinkSerializer(link, context={"request": request}).data
        return Response(data, status=status.HTTP_201_CREATED)


class ShareListView(ApiView):
    """GET: the caller's share links, newest first, with their view counts."""

    required_scopes = {"GET": "outputs:read"}
    serializer_class = ShareListFilterSerializer

    @extend_schema(
        operation_id="shares_list",
        tags=["shares"],
        summary="The caller's share links, with view counts",
        parameters=[ShareListFilterSerializer],
        responses={200: page_of(ShareLinkSerializer), **errors(400)},
        examples=[
            OpenApiExample(
                "One page", value={"next": None, "previous": None, "results": [SHARE_EXAMPLE]}
            )
        ],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = ShareListFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        links = share_links_of_user(request.user).order_by("-created_at", "-id")
        if "output" in filters.validated_data:
            links = links.filter(output_id=filters.validated_data["output"])
        return page_response(request, self, links, ShareLinkSerializer, {"request": request})


class ShareRevokeView(ApiView):
    """POST: revoke a link (its creator, or a reviewer); revoking twice changes nothing."""

    required_scopes = {"POST": "outputs:write"}

    @extend_schema(
        operation_id="shares_revoke",
        tags=["shares"],
        summary="Revoke a share link",
        request=None,
        responses={200: ShareLinkSerializer, **errors(404)},
        examples=[
            OpenApiExample(
                "Revoked",
                value={**SHARE_EXAMPLE, "revoked_at": "2026-11-30T12:00:00Z", "active": False},
            )
        ],
    )
    def post(self, request: AuthenticatedRequest, link_id: int) -> Response:
        link = _link_for(request, link_id)
        link = share_link_revoke(link=link, by=request.user)
        return Response(ShareLinkSerializer(link, context={"request": request}).data)


def _link_for(request: AuthenticatedRequest, link_id: int) -> ShareLink:
    """Someone else's link looks exactly like no link (as on the page)."""
    link = ShareLink.objects.filter(pk=link_id).first()
    if link is None or (link.created_by_id != request.user.id and not can_moderate(request.user)):
        raise Http404("No such share link.")
    return link
