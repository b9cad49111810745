"""The review queue page (`review.views.queue`): tabs with counts, filters that say when they are
wrong or empty the list, and the output page a tester lands on (`review.views.output_detail`)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from review.models import Output
from review.services import output_approve, output_set_gallery, share_link_create
from tests.factories import make_output

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def _tab_count(page: str, state: str) -> int:
    match = re.search(rf'data-testid="tab-{state}".*?<span class="count">(\d+)</span>', page, re.S)
    assert match, f"no count on the {state} tab"
    return int(match.group(1))


@pytest.fixture
def decided_mix(tester, outputs_dir) -> None:
    for state, n in (
        (Output.State.PENDING, 2),
        (Output.State.APPROVED, 1),
        (Output.State.REJECTED, 3),
        (Output.State.NEEDS_CHANGES, 1),
    ):
        for _ in range(n):
            make_output(tester, state=state)


def test_each_tab_shows_its_count_and_lists_its_own_state(client, reviewer, decided_mix):
    client.force_login(reviewer)

    page = client.get(reverse("review_queue")).content.decode()
    rejected = client.get(reverse("review_queue") + "?state=rejected").content.decode()

    counts = {s: _tab_count(page, s) for s in ("pending", "approved", "rejected", "needs_changes")}
    assert counts == {"pending": 2, "approved": 1, "rejected": 3, "needs_changes": 1}
    assert _tab_count(page, "all") == 7
    assert page.count('data-testid="queue-item"') == 2
    assert rejected.count('data-testid="queue-item"') == 3
    assert 'data-testid="tab-rejected" aria-current="page"' in rejected


def test_tab_links_keep_the_other_filters(client, reviewer, decided_mix):
    client.force_login(reviewer)

    page = client.get(reverse("review_queue") + "?tester=ada&state=approved").content.decode()

    assert "?tester=ada&amp;state=rejected" in page


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("state=maybe", "state: Unknown tab maybe"),
        ("model=nonesuch", "model: Unknown model"),
        ("cohort=Nobody", "cohort: No cohort is named"),
        ("lane=nowhere", "lane: "),
        ("tester=abc", "tester: No tester\u2019s email contains \u201cabc\u201d"),
        ("page=-1", "page: "),
        ("page=abc", "page: "),
    ],
)
def test_an_invalid_filter_is_reported_on_the_queue_with_a_way_out(
    client, reviewer, decided_mix, query, named
):
    client.force_login(reviewer)

    response = client.get(f"{reverse('review_queue')}?{query}")

    page = response.content.decode()
    assert response.status_code == 400
    assert 'data-testid="invalid-filters"' in page and named in page
    assert 'data-testid="clear-filters"' in page and 'data-testid="queue-item"' not in page


def test_filters_that_match_nothing_offer_to_clear_them(client, reviewer, decided_mix):
    client.force_login(reviewer)

    # A tester's email that exists, with nothing of theirs that old: valid filters, empty list.
    query = "?tester=ada&min_age_hours=1000"
    page = client.get(reverse("review_queue") + query).content.decode()

    assert 'data-testid="queue-empty"' in page and "Clear filters" in page
    assert 'href="/review/?state=pending"' in page


def test_a_page_past_the_end_is_reported_with_the_last_page(client, reviewer, decided_mix):
    client.force_login(reviewer)

    response = client.get(reverse("review_queue") + "?page=50")

    page = response.content.decode()
    assert response.status_code == 400
    assert "page: there is no page 50; the last is 1." in page
    assert 'data-testid="queue-item"' not in page


def test_a_long_queue_pages_with_links_between_pages(
    client, reviewer, tester, outputs_dir, monkeypatch
):
    for _ in range(3):
        make_output(tester)
    client.force_login(reviewer)
    monkeypatch.setattr("review.views.QUEUE_PAGE_SIZE", 2)

    first = client.get(reverse("review_queue")).content.decode()
    second = client.get(reverse("review_queue") + "?page=2").content.decode()

    assert first.count('data-testid="queue-item"') == 2 and "Page 1 of 2" in first
    assert second.count('data-testid="queue-item"') == 1 and 'rel="prev"' in second


def test_the_api_refuses_an_unknown_tab_by_name(client, reviewer):
    client.force_login(reviewer)

    response = client.get("/api/v1/review/queue/?state=maybe")

    assert response.status_code == 400 and "state" in response.content.decode()


# --- the output page ------------------------------------------------------------------------


def test_the_owner_sees_a_large_player_download_copy_link_and_all_parameters(
    client, reviewer, tester, outputs_dir
):
    output = output_approve(output=make_output(tester), by=reviewer)
    link = share_link_create(output=output, by=tester)
    client.force_login(tester)

    page = client.get(reverse("output_detail", kwargs={"output_id": output.id})).content.decode()

    assert 'class="player-video"' in page and 'data-testid="download"' in page
    assert f'download="vernissage-{output.id}.mp4"' in page
    assert f'data-copy="http://testserver/s/{link.token}/"' in page
    for label in ("Prompt", "Model", "Size", "Frames", "Steps", "Guidance", "Seed"):
        assert f"<dt>{label}</dt>" in page


def test_the_gallery_toggle_confirms_itself(client, reviewer, tester, outputs_dir):
    output = output_approve(output=make_output(tester), by=reviewer)
    client.force_login(tester)
    url = reverse("output_gallery", kwargs={"output_id": output.id})

    shown = client.post(url, {"show": "1"}, follow=True).content.decode()
    hidden = client.post(url, {"show": "0"}, follow=True).content.decode()

    assert "Shown in the program gallery: members of the program can now see it." in shown
    assert "Removed from the program gallery" in hidden


def test_feedback_already_given_is_shown_in_place(client, reviewer, tester, outputs_dir):
    output = output_approve(output=make_output(tester), by=reviewer)
    output_set_gallery(output=output, by=tester, visible=False)
    client.force_login(tester)
    client.post(
        reverse("output_feedback", kwargs={"output_id": output.id}),
        {"rating": "4", "notes": "the fog is lovely"},
    )

    page = client.get(reverse("output_detail", kwargs={"output_id": output.id})).content.decode()

    assert "You rated it 4/5" in page and "the fog is lovely" in page and "Update feedback" in page
