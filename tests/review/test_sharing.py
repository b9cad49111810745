"""Sharing (`review.services.sharing`): nothing is shared before approval; links die with their
conditions; private files are served only through views that check who asks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from review.models import Output, ShareLink
from review.selectors import share_link_resolve
from review.services import (
    ReviewError,
    output_approve,
    share_link_create,
    share_link_revoke,
)
from tests.factories import make_output

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("state", [Output.State.PENDING, Output.State.REJECTED])
def test_an_unapproved_output_cannot_get_a_share_link(tester, state, outputs_dir):
    output = make_output(tester, state=state)

    with pytest.raises(ReviewError, match="Only approved outputs"):
        share_link_create(output=output, by=tester)
    assert not ShareLink.objects.exists()


def test_only_the_owner_can_share(tester, other_tester, reviewer, outputs_dir):
    output = make_output(tester, state=Output.State.APPROVED)

    for stranger in (other_tester, reviewer):
        with pytest.raises(PermissionDenied):
            share_link_create(output=output, by=stranger)


def test_a_share_link_is_unguessable(tester, outputs_dir):
    link = share_link_create(output=make_output(tester, state=Output.State.APPROVED), by=tester)

    # token_urlsafe(32): 43 characters of base64 carry 256 bits.
    assert len(link.token) >= 43


def test_the_share_page_shows_the_video_and_credit_to_anyone(client, tester, outputs_dir):
    tester.display_name = "Ada Lovelace"
    tester.save()
    link = share_link_create(output=make_output(tester, state=Output.State.APPROVED), by=tester)

    page = client.get(reverse("shared_page", kwargs={"token": link.token}))
    video = client.get(reverse("shared_video", kwargs={"token": link.token}))

    assert page.status_code == 200 and "Ada Lovelace" in page.content.decode()
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert b"ftyp" in b"".join(video.streaming_content)[:16]
    link.refresh_from_db()
    assert link.view_count == 1


def test_the_share_page_links_nowhere_else_on_the_platform(client, tester, outputs_dir):
    link = share_link_create(output=make_output(tester, state=Output.State.APPROVED), by=tester)

    page = client.get(reverse("shared_page", kwargs={"token": link.token})).content.decode()

    assert "<a " not in page and "<form" not in page


@pytest.mark.parametrize(
    "spoil",
    [
        lambda link, by: share_link_revoke(link=link, by=by),
        lambda link, by: ShareLink.objects.filter(id=link.id).update(
            expires_at=timezone.now() - timedelta(seconds=1)
        ),
        lambda link, by: by.__class__.objects.filter(id=by.id).update(is_active=False),
    ],
    ids=["revoked", "expired", "owner-deactivated"],
)
def test_a_dead_link_says_no_longer_available(client, tester, spoil, outputs_dir):
    link = share_link_create(output=make_output(tester, state=Output.State.APPROVED), by=tester)
    spoil(link, tester)

    page = client.get(reverse("shared_page", kwargs={"token": link.token}))
    video = client.get(reverse("shared_video", kwargs={"token": link.token}))

    assert page.status_code == 404 and "no longer available" in page.content.decode()
    assert video.status_code == 404
    assert share_link_resolve(token=link.token) is None


def test_video_requests_support_byte_ranges(client, tester, outputs_dir):
    output = make_output(tester)
    client.force_login(tester)
    url = reverse("output_video", kwargs={"output_id": output.id})

    partial = client.get(url, headers={"Range": "bytes=0-99"})
    tail = client.get(url, headers={"Range": "bytes=-10"})

    assert partial.status_code == 206 and len(b"".join(partial.streaming_content)) == 100
    assert partial["Content-Range"] == f"bytes 0-99/{output.size_bytes}"
    assert tail.status_code == 206 and len(b"".join(tail.streaming_content)) == 10


def test_share_links_expire_and_count_views(client, reviewer, tester, outputs_dir):
    output = output_approve(output=make_output(tester), by=reviewer)
    client.force_login(tester)
    client.post(
        reverse("output_share", kwargs={"output_id": output.id}),
        {"expires_in_days": 2, "show_prompt": "on"},
    )
    link = ShareLink.objects.get()
    client.logout()

    page = client.get(reverse("shared_page", kwargs={"token": link.token})).content.decode()

    assert link.expires_at > timezone.now() + timedelta(days=1)
    assert output.job.prompt in page
    link.refresh_from_db()
    assert link.view_count == 1


@pytest.mark.parametrize(
    ("back", "expected"),
    [("https://evil.example/phish", "/shares/"), ("", "/shares/"), ("/studio/", "/studio/")],
)
def test_revoking_a_link_returns_only_to_a_page_of_this_site(
    client, reviewer, tester, outputs_dir, back, expected
):
    link = share_link_create(
        output=output_approve(output=make_output(tester), by=reviewer), by=tester
    )
    client.force_login(tester)

    response = client.post(reverse("share_revoke", kwargs={"link_id": link.pk}), {"back": back})

    assert response.status_code == 302 and response.url == expected
    link.refresh_from_db()
    assert link.revoked_at is not None
