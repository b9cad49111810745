"""The gallery (`review.selectors.gallery`): approved outputs their owners opted in, shown only
while their owners may act."""

from __future__ import annotations

import pytest
from django.urls import reverse

from review.models import Output
from review.services import ReviewError, output_approve, output_set_gallery
from tests.factories import make_output

pytestmark = pytest.mark.django_db


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
