"""The artist's side: the training preference (off by default, shown at signup, recorded per job),
credit by chosen name and link, the archive of approved work, and review transparency."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry, User
from access.services import invitation_create
from fairness.models import JobTrainingRecord, TrainingPreference
from fairness.selectors import training_opted_in
from fairness.services import FairnessError, credit_set, training_preference_set
from review.models import Output
from review.services import share_link_create
from tests.factories import make_job, make_output

pytestmark = pytest.mark.django_db


def test_training_is_off_by_default_and_each_job_keeps_the_value_it_was_submitted_under(tester):
    before = make_job(tester)
    training_preference_set(user=tester, opted_in=True)
    during = make_job(tester)
    training_preference_set(user=tester, opted_in=False)

    recorded = dict(JobTrainingRecord.objects.values_list("job_id", "opted_in"))

    assert recorded == {before.id: False, during.id: True}
    assert training_opted_in(tester.id) is False


def test_signup_shows_the_training_choice_and_records_it(client):
    issued = invitation_create(email="ada@example.com", invited_by=None)
    client.get(reverse("invitation_open", kwargs={"code": issued.code}))
    page = client.get(reverse("account_signup")).content.decode()
    assert "training datasets" in page

    response = client.post(
        reverse("account_signup"),
        {
            "password1": "Correct-Horse-Battery-9",
            "password2": "Correct-Horse-Battery-9",
            "display_name": "Ada",
            "training_opt_in": "on",
        },
    )

    assert response.status_code == 302, response.content[:300]
    assert TrainingPreference.objects.get(user=User.objects.get()).opted_in is True


def test_the_credit_link_must_be_https(tester):
    for bad in ("http://ada.example", "javascript:alert(1)", "https://"):
        with pytest.raises(FairnessError, match="https://"):
            credit_set(user=tester, name="Ada", url=bad)

    assert User.objects.get(pk=tester.pk).credit_url == ""


def test_share_pages_and_the_gallery_credit_the_chosen_name_and_link(
    client, tester, other_tester, approved
):
    credit_set(user=tester, name="Ada Lumen", url="https://ada.example/work")
    link = share_link_create(output=approved, by=tester)
    Output.objects.filter(pk=approved.pk).update(in_gallery=True)

    shared = client.get(reverse("shared_page", kwargs={"token": link.token})).content.decode()
    client.force_login(other_tester)
    gallery = client.get(reverse("gallery")).content.decode()

    for page in (shared, gallery):
        assert "Ada Lumen" in page
        assert 'href="https://ada.example/work" rel="nofollow noopener noreferrer"' in page


def test_the_archive_holds_every_approved_output_with_its_prompt_and_parameters(
    client, tester, approved, outputs_dir
):
    make_output(tester, state=Output.State.REJECTED)
    client.force_login(tester)

    response = client.get(reverse("artist_archive"))

    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(archive.namelist()) == sorted(
        ["index.json"]
        + [f"{approved.id}/{n}" for n in ("video.mp4", "poster.jpg", "metadata.json")]
    )
    metadata = json.loads(archive.read(f"{approved.id}/metadata.json"))
    assert (metadata["prompt"], metadata["seed"], metadata["steps"]) == ("a lighthouse", 1, 4)
    assert (
        archive.read(f"{approved.id}/video.mp4") == (outputs_dir / approved.video_name).read_bytes()
    )


def test_the_artist_sees_queue_position_median_time_their_stats_and_every_reason(
    client, tester, other_tester, rejected_by_rita, outputs_dir
):
    make_output(other_tester)  # ahead in the queue
    mine = make_output(tester)
    now = timezone.now()
    waited_3h = make_output(other_tester, state=Output.State.APPROVED)
    too_old = make_output(other_tester, state=Output.State.APPROVED)
    # Decisions of the last 7 days after 1 h and 3 h; one of 100 h, 8 days ago, is left out.
    Output.objects.filter(pk=rejected_by_rita.pk).update(created_at=now - timedelta(hours=1))
    Output.objects.filter(pk=waited_3h.pk).update(created_at=now - timedelta(hours=3))
    Output.objects.filter(pk=too_old.pk).update(
        created_at=now - timedelta(days=8, hours=100), decided_at=now - timedelta(days=8)
    )
    client.force_login(tester)

    page = client.get(reverse("artist_home")).content.decode()

    assert f'data-output-id="{mine.id}"' in page
    assert "Number 2 in the review queue" in page
    assert "Median time to a decision over the last 7 days: 2 h 0 min." in page
    assert "0 approved, 1 rejected, 0 needs changes, 1 waiting" in page
    assert "Violence or gore" in page and "Reviewer's note: too dark" in page


@pytest.mark.parametrize("count", [1, 8])
def test_the_artist_page_costs_the_same_queries_for_one_output_or_many(
    client, tester, other_tester, outputs_dir, count, django_assert_num_queries
):
    make_output(other_tester)
    for _ in range(count):
        make_output(tester)
    make_output(tester, state=Output.State.REJECTED)
    client.force_login(tester)

    with django_assert_num_queries(13):
        response = client.get(reverse("artist_home"))

    assert response.content.decode().count("in the review queue") == count


def test_the_artist_sets_credit_and_training_from_their_page_and_each_change_is_audited(
    client, tester
):
    client.force_login(tester)
    url = reverse("artist_settings")

    refused = client.post(url, {"credit_name": "Ada", "credit_url": "http://ada.example"})
    client.post(url, {"credit_name": "Ada", "credit_url": "https://ada.example"})
    client.post(
        url, {"credit_name": "Ada", "credit_url": "https://ada.example", "training_opt_in": "on"}
    )

    assert refused.status_code == 400 and "https://" in refused.content.decode()
    tester.refresh_from_db()
    assert (tester.display_name, tester.credit_url) == ("Ada", "https://ada.example")
    assert training_opted_in(tester.id) is True
    assert list(
        AuditEntry.objects.filter(action__startswith="fairness.").values_list("action", flat=True)
    ) == ["fairness.training.preference_set", "fairness.credit.set"]
