"""Outputs over the API: the caller's own (filtered), one with its review state and reason, and
their files through short-lived signed links (`review.media`), which an API client can hand to
any downloader: the link itself is the credential, for a few minutes, and only while its user
may still see the output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import Http404
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from access.api.conditional import conditional_response
from access.api.pagination import page_response
from access.api.schema import (
    ERRORS,
    IF_NONE_MATCH,
    NOT_MODIFIED,
    PAGE_PARAMETERS,
    RATE_LIMIT_HEADERS,
    paginated,
    problems,
)
from access.api.views import ApiView
from access.fields import ChoiceSerializerField, TextSerializerField
from access.http import AuthenticatedRequest
from access.models import ApiToken
from review.media import (
    DownloadExpired,
    DownloadRefused,
    DownloadUnavailable,
    download_resolve,
    download_sign,
    serve_output_file,
)
from review.models import Output
from review.selectors import output_visible_to, outputs_of


def visible_output(request: AuthenticatedRequest, output_id: Any) -> Output:
    """The output if the caller may see it (owner, reviewer, gallery); 404 otherwise."""
    output = output_visible_to(output_id=output_id, user=request.user)
    if output is None:
        raise Http404("No such output.")
    return output


class ReviewSerializer(serializers.Serializer):
    """Where the output is in review, and why (the words the artist gets by email)."""

    state = serializers.ChoiceField(choices=Output.State.choices)
    state_label = serializers.CharField(source="get_state_display")
    reason = serializers.CharField(
        source="decision_reason", help_text="Why it was rejected or sent back."
    )
    note = serializers.CharField(source="decision_note", help_text="The reviewer's note.")
    decided_at = serializers.DateTimeField(allow_null=True)
    approvals = serializers.SerializerMethodField()
    approvals_required = serializers.IntegerField()

    def get_approvals(self, output: Output) -> int:
        annotated = getattr(output, "approval_count", None)
        return output.approvals.count() if annotated is None else annotated


class FilesSerializer(serializers.Serializer):
    content_url = serializers.URLField(help_text="The MP4, through a signed link.")
    poster_url = serializers.URLField(help_text="The poster JPEG, through a signed link.")
    expires_at = serializers.DateTimeField(help_text="When both links stop working.")


class OutputSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    job_id = serializers.UUIDField()
    owner = serializers.EmailField(source="job.owner.email")
    model = serializers.CharField(source="job.model_name")
    prompt = serializers.CharField(source="job.prompt")
    negative_prompt = serializers.CharField(source="job.negative_prompt")
    review = ReviewSerializer(source="*")
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    num_frames = serializers.IntegerField()
    fps = serializers.IntegerField()
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    in_gallery = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    files = serializers.SerializerMethodField(
        help_text="Short-lived signed links to the files (null once the output is deleted)."
    )

    @extend_schema_field(FilesSerializer(allow_null=True))
    def get_files(self, output: Output) -> dict | None:
        if output.state == Output.State.DELETED:
            return None
        request = self.context["request"]
        video, poster = (signed_url(request, output, file) for file in ("video", "poster"))
        return {"content_url": video[0], "poster_url": poster[0], "expires_at": video[1]}


def signed_url(request: AuthenticatedRequest, output: Output, file: str) -> tuple[str, datetime]:
    """An absolute signed link to one file of `output` for the caller, and when it expires."""
    token = request.auth if isinstance(request.auth, ApiToken) else None
    signed = download_sign(output=output, user=request.user, file=file, token=token)
    url = request.build_absolute_uri(reverse("api_download", kwargs={"signed": signed.signed}))
    return url, signed.expires_at


OUTPUT_EXAMPLE = {
    "id": "5b0c1d7e-8a36-4c0e-9d1e-2f5a4f0c9b11",
    "job_id": "0f6c1a52-3e1b-4a43-a7d4-8d2e8cb1f0aa",
    "owner": "ada@example.com",
    "model": "wan-1.3b",
    "prompt": "a paper boat on a rainy street",
    "negative_prompt": "",
    "review": {
        "state": "rejected",
        "state_label": "Rejected",
        "reason": "Real person's likeness",
        "note": "The face resembles a public figure.",
        "decided_at": "2026-11-30T10:12:00Z",
        "approvals": 0,
        "approvals_required": 1,
    },
    "width": 832,
    "height": 480,
    "num_frames": 33,
    "fps": 16,
    "size_bytes": 412345,
    "sha256": "9f2c…",
    "in_gallery": False,
    "created_at": "2026-11-30T10:02:00Z",
    "files": {
        "content_url": "https://vernissage.example/api/v1/downloads/eyJvIjoi…/",
        "poster_url": "https://vernissage.example/api/v1/downloads/eyJvIjoi…/",
        "expires_at": "2026-11-30T10:20:00Z",
    },
}


class OutputFilterSerializer(serializers.Serializer):
    """The list's query parameters."""

    state = ChoiceSerializerField(choices=Output.State.choices, required=False)
    model = TextSerializerField(max_length=40, required=False)


class OutputListView(ApiView):
    """GET: the caller's own outputs, newest first (`?state=&model=`)."""

    required_scopes = {"GET": "outputs:read"}
    serializer_class = OutputFilterSerializer

    @extend_schema(
        operation_id="outputs_list",
        tags=["outputs"],
        summary="The caller's outputs",
        parameters=[OutputFilterSerializer, *PAGE_PARAMETERS, *RATE_LIMIT_HEADERS],
        responses={200: paginated(OutputSerializer), **ERRORS},
        examples=[
            OpenApiExample(
                "One page", value={"next": None, "previous": None, "results": [OUTPUT_EXAMPLE]}
            )
        ],
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = OutputFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        outputs = outputs_of(owner=request.user, **filters.validated_data)
        context = {"request": request}
        return page_response(request, self, outputs, OutputSerializer, context=context)


class OutputDetailView(ApiView):
    """GET: one output the caller may see (their own, or any as a reviewer, or in the gallery)."""

    required_scopes = {"GET": "outputs:read"}

    @extend_schema(
        operation_id="outputs_retrieve",
        tags=["outputs"],
        summary="One output, with its review state and reason",
        description="With an ETag: send it back in If-None-Match for a bodiless 304 while the "
        "output is unchanged. The tag leaves out `files` (fresh signed links on every 200): "
        "once links have expired, fetch them through `content`/`poster`, or read without "
        "If-None-Match.",
        parameters=[IF_NONE_MATCH, *RATE_LIMIT_HEADERS],
        responses={200: OutputSerializer, 304: NOT_MODIFIED, **ERRORS, **problems(404)},
        examples=[OpenApiExample("Rejected", value=OUTPUT_EXAMPLE, response_only=True)],
    )
    def get(self, request: AuthenticatedRequest, output_id) -> Response:
        output = visible_output(request, output_id)
        data = OutputSerializer(output, context={"request": request}).data
        stable = {key: value for key, value in data.items() if key != "files"}
        return conditional_response(request, data, tag_data=stable)


_REDIRECT = OpenApiResponse(
    description="Found: `Location` is a signed link to the file, valid a few minutes.",
    response=None,
)


def _redirect_to_file(request: AuthenticatedRequest, output_id: Any, file: str) -> HttpResponseBase:
    output = visible_output(request, output_id)
    if output.state == Output.State.DELETED:
        raise NotFound("This output was deleted.")
    return redirect(signed_url(request, output, file)[0])


class OutputContentView(ApiView):
    """GET: a redirect to a signed link to the output's MP4."""

    required_scopes = {"GET": "outputs:read"}

    @extend_schema(
        operation_id="outputs_content",
        tags=["outputs"],
        summary="Download the MP4 (redirects to a signed link)",
        parameters=[*RATE_LIMIT_HEADERS],
        responses={302: _REDIRECT, **ERRORS, **problems(404)},
    )
    def get(self, request: AuthenticatedRequest, output_id) -> HttpResponseBase:
        return _redirect_to_file(request, output_id, "video")


class OutputPosterView(ApiView):
    """GET: a redirect to a signed link to the output's poster."""

    required_scopes = {"GET": "outputs:read"}

    @extend_schema(
        operation_id="outputs_poster",
        tags=["outputs"],
        summary="Download the poster JPEG (redirects to a signed link)",
        parameters=[*RATE_LIMIT_HEADERS],
        responses={302: _REDIRECT, **ERRORS, **problems(404)},
    )
    def get(self, request: AuthenticatedRequest, output_id) -> HttpResponseBase:
        return _redirect_to_file(request, output_id, "poster")


class DownloadGone(APIException):
    status_code = 410
    default_detail = "This download link has expired: ask the API for a new one."
    default_code = "expired"


class DownloadView(ApiView):
    """GET: the file a signed link names. The link is the credential: no token, no session."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        operation_id="downloads_retrieve",
        tags=["outputs"],
        summary="A file, through a signed link (no other credential)",
        auth=[],
        parameters=[
            OpenApiParameter("Range", str, OpenApiParameter.HEADER, required=False),
            *RATE_LIMIT_HEADERS,
        ],
        responses={
            (200, "video/mp4"): OpenApiTypes.BINARY,
            (206, "video/mp4"): OpenApiTypes.BINARY,
            (200, "image/jpeg"): OpenApiTypes.BINARY,
            302: OpenApiResponse(
                description="With S3 storage: `Location` is a presigned URL of the object store, "
                "valid VERNISSAGE_MEDIA_URL_TTL_SECONDS.",
                response=None,
            ),
            304: OpenApiResponse(description="Not modified (`If-None-Match`).", response=None),
            416: OpenApiResponse(
                description="The range starts past the end (`Content-Range: bytes */<size>`).",
                response=None,
            ),
            # No 401: the link is the credential, so no authentication runs.
            **problems(
                400,
                403,
                404,
                410,
                429,
                503,
                descriptions={
                    403: "Not a valid link (altered, or not one of ours).",
                    404: "The link's user may not have this output now (access ended, token "
                    "revoked, output deleted).",
                },
            ),
        },
    )
    def get(self, request: Request, signed: str) -> HttpResponseBase:
        try:
            name = download_resolve(signed)
        except DownloadExpired as exc:
            raise DownloadGone(str(exc)) from None
        except DownloadUnavailable as exc:
            raise NotFound(str(exc)) from None
        except DownloadRefused as exc:
            raise PermissionDenied(str(exc)) from None
        return serve_output_file(request._request, name)
