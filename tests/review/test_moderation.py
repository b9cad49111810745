"""Moderation (`review.services.moderation`): the queue, claims, four eyes, hash-bound approval,
decisions, withdrawal, bulk decisions, audit and email; the queue page and its API."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from access.models import AuditEntry
from review.models import Output
from review.selectors import QueueFilters, review_queue, review_stats, share_link_resolve
from review.services import (
    ReviewError,
    notification_preference_set,
    output_approve,
    output_claim,
    output_decision_undo,
    output_reject,
    output_request_changes,
    output_verify_integrity,
    output_withdraw,
    outputs_bulk_decide,
    share_link_create,
)
from tests.factories import make_output

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_reviewer(make_user):
    return make_user("sam@vernissage.local", reviewer=True)


def _register(owner) -> Output:
    """An output registered the way the job service does it (approvals from the owner's cohort)."""
    from review.services import approvals_required_for

    output = make_output(owner)
    output.approvals_required = approvals_required_for(owner)
    output.save()
    return output


# --- the queue and a first decision ---------------------------------------------------------


def test_the_queue_lists_pending_outputs_oldest_first(tester, other_tester, outputs_dir):
    older = make_output(tester)
    newer = make_output(other_tester)
    make_output(tester, state=Output.State.APPROVED)

    assert list(review_queue()) == [older, newer]


def test_the_review_page_shows_video_prompt_and_tester(client, reviewer, tester, outputs_dir):
    output = make_output(tester)
    client.force_login(reviewer)

    page = client.get(reverse("review_queue")).content.decode()

    assert reverse("output_video", kwargs={"output_id": output.id}) in page
    assert output.job.prompt in page and tester.email in page


def test_the_review_page_uses_a_constant_number_of_queries(
    client, reviewer, tester, outputs_dir, django_assert_max_num_queries
):
    for _ in range(8):
        make_output(tester)
    client.force_login(reviewer)

    # 9 since the page shows each tester's record beside their items (review.selectors.
    # tester_contexts: one query for counts, findings and note, one for the last decisions).
    with django_assert_max_num_queries(9):
        client.get(reverse("review_queue"))


def test_a_reviewer_approves_and_the_decision_is_recorded(reviewer, tester, outputs_dir):
    output = output_approve(output=make_output(tester), by=reviewer)

    assert output.state == Output.State.APPROVED
    assert output.decided_by == reviewer and output.decided_at is not None


def test_rejecting_needs_a_reason(reviewer, tester, outputs_dir):
    output = make_output(tester)

    with pytest.raises(ReviewError, match="Choose a reason"):
        output_reject(output=output, by=reviewer, reason="   ")
    output.refresh_from_db()
    assert output.state == Output.State.PENDING


def test_a_decided_output_cannot_be_decided_again(reviewer, tester, outputs_dir):
    output = output_reject(output=make_output(tester), by=reviewer, reason="Violence or gore")

    with pytest.raises(ReviewError, match="already rejected"):
        output_approve(output=output, by=reviewer)


def test_a_tester_cannot_approve_anything(tester, outputs_dir):
    with pytest.raises(PermissionDenied):
        output_approve(output=make_output(tester), by=tester)


def test_the_review_page_decision_updates_the_output(client, reviewer, tester, outputs_dir):
    output = make_output(tester)
    client.force_login(reviewer)

    empty = client.post(
        reverse("review_decide", kwargs={"output_id": output.id}), {"decision": "reject"}
    )
    output.refresh_from_db()
    assert empty.status_code == 302 and output.state == Output.State.PENDING
    client.post(
        reverse("review_decide", kwargs={"output_id": output.id}),
        {"decision": "reject", "reason": "Real person's likeness", "note": "the mayor"},
    )
    output.refresh_from_db()
    assert output.state == Output.State.REJECTED
    assert (output.decision_reason, output.decision_note) == ("Real person's likeness", "the mayor")


def test_a_bulk_decision_with_nothing_selected_is_refused_and_decides_nothing(
    client, reviewer, tester, outputs_dir
):
    output = make_output(tester)
    client.force_login(reviewer)

    response = client.post(reverse("review_bulk"), {"decision": "approve", "note": "looks fine"})

    assert response.status_code == 400
    assert "Select at least one item for a bulk decision." in response.content.decode()
    output.refresh_from_db()
    assert output.state == Output.State.PENDING


def test_a_bulk_decision_counts_its_items_in_words(client, reviewer, tester, outputs_dir):
    one, two, three = make_output(tester), make_output(tester), make_output(tester)
    client.force_login(reviewer)

    single = client.post(
        reverse("review_bulk"), {"decision": "approve", "output": [one.id]}, follow=True
    )
    double = client.post(
        reverse("review_bulk"),
        {"decision": "reject", "reason": "Violence or gore", "output": [two.id, three.id]},
        follow=True,
    )

    assert "Decided 1 item." in single.content.decode()
    assert "Decided 2 items." in double.content.decode()
    states = dict(Output.objects.values_list("id", "state"))
    assert states == {
        one.id: Output.State.APPROVED,
        two.id: Output.State.REJECTED,
        three.id: Output.State.REJECTED,
    }


# --- claims ----------------------------------------------------------------------------------


def test_a_claimed_item_shows_who_is_reviewing_it_and_blocks_others(
    reviewer, second_reviewer, tester, outputs_dir
):
    output = output_claim(output=make_output(tester), by=reviewer)

    with pytest.raises(ReviewError, match=f"Being reviewed by {reviewer.email}"):
        output_claim(output=output, by=second_reviewer)
    with pytest.raises(ReviewError, match="Being reviewed by"):
        output_approve(output=output, by=second_reviewer)
    assert review_queue().get().claimed_by == reviewer


def test_a_claim_expires_by_itself(reviewer, second_reviewer, tester, outputs_dir):
    output = output_claim(output=make_output(tester), by=reviewer)
    Output.objects.filter(id=output.id).update(
        claim_expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert output_claim(output=output, by=second_reviewer).claimed_by == second_reviewer


@pytest.mark.django_db(transaction=True)
def test_two_reviewers_racing_for_an_item_one_wins(reviewer, second_reviewer, tester, outputs_dir):
    output = make_output(tester)
    barrier, outcomes = threading.Barrier(2), {}

    def race(user):
        barrier.wait()
        try:
            output_approve(output=output, by=user)
            outcomes[user.email] = "approved"
        except ReviewError as exc:
            outcomes[user.email] = str(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(u,)) for u in (reviewer, second_reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values())[0] == "This output was already approved."
    assert list(outcomes.values()).count("approved") == 1
    assert output.approvals.count() == 1


# --- four eyes -------------------------------------------------------------------------------


def test_nobody_approves_their_own_output(reviewer, outputs_dir):
    output = make_output(reviewer)

    with pytest.raises(ReviewError, match="their own output"):
        output_approve(output=output, by=reviewer)


def test_a_red_team_output_needs_two_different_reviewers(
    reviewer, second_reviewer, red_teamer, outputs_dir
):
    output = _register(red_teamer)

    output_approve(output=output, by=reviewer)
    output.refresh_from_db()
    assert output.state == Output.State.PENDING and output.approvals.count() == 1
    with pytest.raises(ReviewError, match="already approved this"):
        output_approve(output=output, by=reviewer)
    with pytest.raises(ReviewError, match="Only approved outputs"):
        share_link_create(output=output, by=red_teamer)

    output_approve(output=output, by=second_reviewer)
    output.refresh_from_db()
    assert output.state == Output.State.APPROVED


def test_a_cohort_setting_overrides_the_lane_default(reviewer, tester, cohort, outputs_dir):
    cohort.approvals_required = 2
    cohort.save()

    output = _register(tester)

    assert output.approvals_required == 2


# --- content hash ----------------------------------------------------------------------------


def test_changing_the_stored_file_voids_the_approval_and_requeues_the_item(
    reviewer, tester, client, outputs_dir
):
    output = output_approve(output=make_output(tester), by=reviewer)
    link = share_link_create(output=output, by=tester)
    (outputs_dir / output.video_name).write_bytes(b"tampered")

    page = client.get(reverse("shared_page", kwargs={"token": link.token}))

    assert page.status_code == 404
    output.refresh_from_db()
    assert output.state == Output.State.PENDING and output.approvals.count() == 0
    assert output in review_queue()
    assert AuditEntry.objects.filter(action="review.output.approval_voided").exists()


def test_an_untouched_file_keeps_its_approval(reviewer, tester, outputs_dir):
    output = output_approve(output=make_output(tester), by=reviewer)

    assert output_verify_integrity(output=output) is True


def test_a_file_changed_before_review_cannot_be_approved(reviewer, tester, outputs_dir):
    output = make_output(tester)
    (outputs_dir / output.video_name).write_bytes(b"swapped")

    with pytest.raises(ReviewError, match="differs"):
        output_approve(output=output, by=reviewer)


# --- decisions -------------------------------------------------------------------------------


def test_other_reasons_need_a_note(reviewer, tester, outputs_dir):
    with pytest.raises(ReviewError, match="note is required"):
        output_reject(output=make_output(tester), by=reviewer, reason="Other (see note)")


def test_needs_changes_carries_the_reviewers_note(reviewer, tester, outputs_dir):
    output = output_request_changes(output=make_output(tester), by=reviewer, note="crop the logo")

    assert (output.state, output.decision_note) == (Output.State.NEEDS_CHANGES, "crop the logo")
    # No reason beside the state: pages show "Needs changes", not "Needs changes — Needs changes".
    assert output.decision_reason == ""


def test_withdrawing_an_approval_kills_its_share_links_at_once(reviewer, tester, outputs_dir):
    output = output_approve(output=make_output(tester), by=reviewer)
    link = share_link_create(output=output, by=tester)
    assert share_link_resolve(token=link.token) is not None

    output_withdraw(output=output, by=reviewer, reason="leaked elsewhere")

    assert share_link_resolve(token=link.token) is None
    entry = AuditEntry.objects.get(action="review.output.withdrawn")
    assert entry.details == {"reason": "leaked elsewhere", "active_links": 1}


def test_bulk_decisions_report_each_refusal(reviewer, tester, outputs_dir):
    mine = make_output(reviewer)
    theirs = [make_output(tester) for _ in range(2)]

    outcome = outputs_bulk_decide(
        output_ids=[str(o.id) for o in [mine, *theirs]], by=reviewer, decision="approve"
    )

    assert sorted(outcome.done) == sorted(str(o.id) for o in theirs)
    assert outcome.errors == {str(mine.id): "Nobody reviews their own output."}


def test_every_decision_is_audited(reviewer, tester, outputs_dir):
    output_approve(output=make_output(tester), by=reviewer)
    output_reject(output=make_output(tester), by=reviewer, reason="Sexual content")
    output_request_changes(output=make_output(tester), by=reviewer, note="shorter")

    actions = set(AuditEntry.objects.values_list("action", flat=True))

    assert {
        "review.output.approved",
        "review.output.rejected",
        "review.output.changes_requested",
    } <= actions


@pytest.fixture
def decision_mails(monkeypatch) -> list[dict]:
    """The delayed decision emails handed to Celery (`deliver()` runs them, as the CPU worker
    does once their countdown has passed)."""
    from config.celery import app

    sent: list[dict] = []

    def send_task(name: str, args: list, queue: str, countdown: float) -> None:
        sent.append({"name": name, "args": args, "queue": queue, "countdown": countdown})

    monkeypatch.setattr(app, "send_task", send_task)
    return sent


def deliver(decision_mails: list[dict]) -> list[str]:
    from review.tasks import decision_mail

    return [decision_mail(*message["args"]) for message in decision_mails]


def test_the_owner_is_emailed_a_decision_unless_they_opted_out(
    reviewer,
    tester,
    other_tester,
    outputs_dir,
    mailoutbox,
    decision_mails,
    django_capture_on_commit_callbacks,
    settings,
):
    notification_preference_set(user=other_tester, email_on_decision=False)
    with django_capture_on_commit_callbacks(execute=True):
        output_reject(output=make_output(tester), by=reviewer, reason="Sexual content")
        output_reject(output=make_output(other_tester), by=reviewer, reason="Sexual content")

    assert mailoutbox == []  # not before the undo window has passed
    assert {m["countdown"] for m in decision_mails} == {settings.REVIEW_UNDO_SECONDS + 1}
    assert {m["queue"] for m in decision_mails} == {"hooks"}  # the CPU worker's, not a GPU's
    assert deliver(decision_mails) == ["sent", "sent"]
    assert [mail.to for mail in mailoutbox] == [[tester.email]]
    assert "Sexual content" in mailoutbox[0].body


def test_a_decision_undone_in_time_sends_no_email_and_the_next_one_does(
    reviewer, tester, outputs_dir, mailoutbox, decision_mails, django_capture_on_commit_callbacks
):
    output = make_output(tester)
    with django_capture_on_commit_callbacks(execute=True):  # each commits on its own
        output_reject(output=output, by=reviewer, reason="Sexual content")
    with django_capture_on_commit_callbacks(execute=True):
        output_decision_undo(output=output, by=reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        output_request_changes(output=Output.objects.get(id=output.id), by=reviewer, note="shorter")

    assert deliver(decision_mails) == ["withdrawn", "sent"]
    [mail] = mailoutbox
    assert "Sexual content" not in mail.body and "shorter" in mail.body


def test_the_decision_email_goes_at_once_when_the_broker_is_away(
    reviewer,
    tester,
    outputs_dir,
    mailoutbox,
    monkeypatch,
    django_capture_on_commit_callbacks,
    caplog,
):
    from config.celery import app

    def refuse(*args, **kwargs):
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(app, "send_task", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        output_reject(output=make_output(tester), by=reviewer, reason="Sexual content")

    assert [mail.to for mail in mailoutbox] == [[tester.email]]
    assert "Could not delay the decision email" in caplog.text


# --- queue page ------------------------------------------------------------------------------


def test_the_queue_filters_by_lane_and_tester(reviewer, tester, red_teamer, outputs_dir):
    artist, red = make_output(tester), make_output(red_teamer)

    assert list(review_queue(QueueFilters(lane="red-team"))) == [red]
    assert list(review_queue(QueueFilters(tester="ada@"))) == [artist]


def test_items_past_the_sla_are_highlighted(client, reviewer, tester, outputs_dir):
    old, new = make_output(tester), make_output(tester)
    Output.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(hours=30))
    client.force_login(reviewer)

    page = client.get(reverse("review_queue")).content.decode()

    assert page.count("over the 24 h SLA") == 1
    assert page.index(str(old.id)) < page.index(str(new.id))


def test_the_keyboard_shortcuts_are_shown_on_the_page(client, reviewer):
    client.force_login(reviewer)

    page = client.get(reverse("review_queue")).content.decode()

    assert "<kbd>j</kbd>/<kbd>k</kbd>" in page and "<kbd>a</kbd> approve" in page


@pytest.mark.parametrize("count", [2, 12])
def test_the_review_queue_uses_a_constant_number_of_queries(
    client, reviewer, tester, outputs_dir, count, django_assert_num_queries
):
    for _ in range(count):
        make_output(tester)
    client.force_login(reviewer)

    # The tabs' counts replaced the total (one query); each tester's record adds two.
    with django_assert_num_queries(9):
        client.get(reverse("review_queue"))


def test_time_to_decision_statistics_per_day(reviewer, tester, outputs_dir):
    for minutes in (10, 20, 30):
        output = make_output(tester)
        Output.objects.filter(id=output.id).update(
            state=Output.State.REJECTED,
            created_at=timezone.now() - timedelta(minutes=minutes),
            decided_at=timezone.now(),
        )

    today = review_stats()[0]

    assert today.decided == 3
    assert 1190 <= today.median_s <= 1210 and 1790 <= today.p95_s <= 1810


# --- the queue over the API ----------------------------------------------------------------


@pytest.mark.parametrize("count", [2, 12])
def test_the_review_queue_api_uses_a_constant_number_of_queries(
    client, reviewer, tester, outputs_dir, count, django_assert_num_queries
):
    for _ in range(count):
        make_output(tester)
    client.force_login(reviewer)

    # Six, the same for any length: cursor pages need no COUNT (offset pages took a seventh).
    with django_assert_num_queries(6):
        response = client.get(reverse("api_review_queue"))

    assert len(response.json()["results"]) == count
    assert response.json()["results"][0]["tester"] == tester.email


def test_testers_cannot_read_the_review_queue_api(client, tester):
    client.force_login(tester)

    assert client.get(reverse("api_review_queue")).status_code == 403


def test_a_bulk_reject_without_a_reason_is_one_clear_400_and_decides_nothing(
    client, reviewer, tester, outputs_dir
):
    outputs = [make_output(tester), make_output(tester)]
    client.force_login(reviewer)

    response = client.post(
        reverse("review_bulk"), {"decision": "reject", "output": [o.id for o in outputs]}
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert page.count("Choose a reason to reject the selected items.") == 1
    assert "Decided 0 items" not in page
    assert not any(str(o.id) in page for o in outputs)
    assert set(Output.objects.values_list("state", flat=True)) == {Output.State.PENDING}
