"""The gallery (`review.selectors.gallery`): approved outputs their owners opted in, shown only
while their owners may act."""

from __future__ import annotations

import pytest
from django.urls import reverse

from access.models import User
from review.models import Output, ShareLink
from review.selectors import gallery, share_link_resolve
from review.services import ReviewError, output_approve, output_set_gallery, share_link_create
from tests.conftest import STANDINGS
from tests.factories import make_output

pytestmark = pytest.mark.django_db

# What a staff member's own standing does not depend on: the program, and a cohort they are not in.
STAFF_UNTOUCHED = ("program paused", "cohort suspended", "expired", "cohort not started")


def test_the_gallery_shows_opted_in_approved_outputs_to_members(
    client, tester, other_tester, reviewer, outputs_dir, django_assert_max_num_queries
):
    shown = output_approve(output=make_output(tester), by=reviewer)
    output_set_gallery(output=shown, by=tester, visible=True)
    output_approve(output=make_output(tester), by=reviewer)  # approved, not opted in
    client.force_login(other_tester)

    with django_assert_max_num_queries(9):
        page = client.get(reverse("gallery")).content.decode()
    detail = client.get(reverse("output_detail", kwargs={"output_id": shown.id}))

    assert page.count("<figure>") == 1 and str(shown.id) in page
    assert detail.status_code == 200


def test_an_unapproved_output_cannot_enter_the_gallery(tester, outputs_dir):
    with pytest.raises(ReviewError, match="Only approved"):
        output_set_gallery(output=make_output(tester), by=tester, visible=True)


@pytest.mark.parametrize("count", [1, 9])
def test_the_gallery_uses_a_constant_number_of_queries(
    client, tester, other_tester, outputs_dir, count, django_assert_num_queries
):
    for _ in range(count):
        output = make_output(tester, state=Output.State.APPROVED)
        output_set_gallery(output=output, by=tester, visible=True)
    client.force_login(other_tester)

    with django_assert_num_queries(9):
        page = client.get(reverse("gallery")).content.decode()

    assert page.count("<figure>") == count


# --- whose outputs the gallery shows: the owners who may act now ---------------------------------


def _in_the_gallery_and_shared(owner) -> tuple[Output, ShareLink]:
    """An approved output of `owner`, opted in to the gallery, with a live share link."""
    output = make_output(owner, state=Output.State.APPROVED)
    output_set_gallery(output=output, by=owner, visible=True)
    return output, share_link_create(output=output, by=owner)


@pytest.mark.parametrize("window", ["expired", "cohort not started"])
def test_outputs_of_a_tester_outside_their_cohorts_window_leave_the_gallery(
    tester, outsider, outputs_dir, window
):
    outside, _ = _in_the_gallery_and_shared(tester)
    active, _ = _in_the_gallery_and_shared(outsider)  # another cohort, still open
    assert set(gallery()) == {outside, active}

    STANDINGS[window](tester)

    assert list(gallery()) == [active]


@pytest.mark.parametrize("owner", ["tester", "reviewer"])
@pytest.mark.parametrize("standing", ["active", *STANDINGS])
def test_the_gallery_and_share_links_agree_with_may_act(request, outputs_dir, owner, standing):
    person = request.getfixturevalue(owner)
    output, link = _in_the_gallery_and_shared(person)

    if standing != "active":
        STANDINGS[standing](person)

    may_act = User.objects.select_related("cohort").get(pk=person.pk).may_act()
    assert (output in gallery()) is may_act
    assert (share_link_resolve(token=link.token) is not None) is may_act
    # Staff keep acting through a program pause; a tester's access ends with any of these.
    assert may_act is (
        standing == "active" or (owner == "reviewer" and standing in STAFF_UNTOUCHED)
    )
