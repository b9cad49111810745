"""Feedback that answers: staff reply in a thread and move each item through its statuses; the
author is told of each change; findings stay restricted to their reporter and staff."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.models import AuditEntry
from fairness.models import Thread
from fairness.services import FairnessError, thread_move, thread_reply
from review.models import Feedback, Finding
from review.services import feedback_submit, finding_file
from tests.factories import make_output

pytestmark = pytest.mark.django_db


@pytest.fixture
def feedback(tester, outputs_dir) -> Feedback:
    return feedback_submit(output=make_output(tester), by=tester, rating=2, notes="Hands melt.")


@pytest.fixture
def finding(red_teamer, outputs_dir) -> Finding:
    return finding_file(
        output=make_output(red_teamer),
        by=red_teamer,
        category="likeness",
        severity="high",
        description="A senator's face.",
    )


def test_an_item_moves_received_investigating_addressed_and_the_author_hears_each_step(
    tester, reviewer, feedback, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        thread_reply(item=feedback, by=reviewer, body="Thanks, we can reproduce it.")
        thread_move(item=feedback, by=reviewer, to="investigating", note="Looking at hands.")
        thread_move(
            item=feedback, by=reviewer, to="addressed", note="Better hands.", model_version="v0.3"
        )

    thread = Thread.objects.get()
    assert (thread.state, thread.model_version) == (Thread.State.ADDRESSED, "v0.3")
    assert [m.to for m in mail.outbox] == [[tester.email]] * 3
    assert "Thanks, we can reproduce it." in mail.outbox[0].body
    assert "Addressed in a model version (v0.3)" in mail.outbox[2].body
    assert AuditEntry.objects.filter(action__startswith="fairness.thread.").count() == 3
    with pytest.raises(FairnessError, match="cannot become"):
        thread_move(item=feedback, by=reviewer, to="wont_fix", note="changed our mind")


def test_addressed_names_a_model_version_and_only_staff_change_a_status(tester, reviewer, feedback):
    with pytest.raises(FairnessError, match="model version"):
        thread_move(item=feedback, by=reviewer, to="addressed", note="done")
    with pytest.raises(PermissionDenied):
        thread_move(item=feedback, by=tester, to="wont_fix", note="never mind")

    assert not Thread.objects.filter(state__in=["addressed", "wont_fix"]).exists()


def test_the_author_replies_in_their_thread_and_nobody_else_but_staff_can(
    tester, other_tester, reviewer, feedback
):
    thread_reply(item=feedback, by=tester, body="It happens with gloves too.")

    with pytest.raises(PermissionDenied):
        thread_reply(item=feedback, by=other_tester, body="me too")
    assert list(Thread.objects.get().messages.values_list("body", flat=True)) == [
        "It happens with gloves too."
    ]


def test_a_finding_thread_is_for_its_reporter_and_staff_only(
    client, red_teamer, other_tester, reviewer, finding
):
    thread_reply(item=finding, by=reviewer, body="Confirmed; blocking the prompt pattern.")

    client.force_login(other_tester)
    assert "Confirmed; blocking" not in client.get(reverse("threads")).content.decode()
    url = reverse("finding_reply", kwargs={"finding_id": finding.pk})
    assert client.post(url, {"body": "let me in"}).status_code == 404

    client.force_login(red_teamer)
    page = client.get(reverse("threads")).content.decode()
    assert "Confirmed; blocking the prompt pattern." in page
    assert client.post(url, {"body": "Thanks!"}).status_code == 302
    assert client.post(url, {"body": ""}).status_code == 400
