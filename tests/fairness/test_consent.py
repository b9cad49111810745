"""Consent per use: no use without a grant in force, withdrawal honoured from then on, every
request, answer and use audited, and the export holds only consented outputs with their credit."""

from __future__ import annotations

import csv
import io

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from access.models import AuditEntry
from fairness.models import OutputUse, Purpose, UseRequest
from fairness.services import (
    FairnessError,
    consented_export,
    output_use_record,
    training_preference_set,
    use_consent_withdraw,
    use_request_answer,
    use_request_create,
)
from review.models import Output
from tests.factories import make_output

pytestmark = pytest.mark.django_db


def ask(output: Output, by, purpose: str = Purpose.SHOWCASE) -> UseRequest:
    return use_request_create(output=output, purpose=purpose, message="For the launch page?", by=by)


def actions_on(output: Output) -> list[str]:
    return list(
        AuditEntry.objects.filter(target_id=str(output.id))
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


def test_no_use_without_the_artists_grant(admin, tester, approved):
    request = ask(approved, admin)

    with pytest.raises(FairnessError, match="No consent for this use: the request is awaiting"):
        output_use_record(request=request, by=admin, note="homepage")
    use_request_answer(request=request, by=tester, grant=False)
    with pytest.raises(FairnessError, match="No consent for this use: the request is declined"):
        output_use_record(request=request, by=admin, note="homepage")

    assert not OutputUse.objects.exists()
    assert consented_export(purpose=Purpose.SHOWCASE, by=admin).splitlines()[1:] == []


def test_a_withdrawal_is_honoured_from_then_on_and_earlier_uses_stay_recorded(
    admin, tester, approved
):
    request = ask(approved, admin)
    use_request_answer(request=request, by=tester, grant=True)
    output_use_record(request=request, by=admin, note="launch page")

    use_consent_withdraw(request=request, by=tester)

    with pytest.raises(FairnessError, match="the request is withdrawn"):
        output_use_record(request=request, by=admin, note="second post")
    assert consented_export(purpose=Purpose.SHOWCASE, by=admin).splitlines()[1:] == []
    assert list(OutputUse.objects.values_list("note", flat=True)) == ["launch page"]
    assert actions_on(approved) == [
        "fairness.use.requested",
        "fairness.use.granted",
        "fairness.use.recorded",
        "fairness.use.withdrawn",
    ]
    assert UseRequest.objects.get().withdrawn_at is not None


def test_the_export_holds_only_consented_outputs_with_their_credit(
    admin, tester, other_tester, approved, outputs_dir
):
    tester.display_name, tester.credit_url = "Ada L.", "https://ada.example"
    tester.save()
    granted = ask(approved, admin)
    use_request_answer(request=granted, by=tester, grant=True)
    ask(make_output(tester, state=Output.State.APPROVED), admin)  # pending
    declined = ask(make_output(tester, state=Output.State.APPROVED), admin)
    use_request_answer(request=declined, by=tester, grant=False)
    withdrawn = ask(make_output(tester, state=Output.State.APPROVED), admin)
    use_request_answer(request=withdrawn, by=tester, grant=True)
    use_consent_withdraw(request=withdrawn, by=tester)
    other_purpose = ask(make_output(other_tester, state=Output.State.APPROVED), admin, "training")
    use_request_answer(request=other_purpose, by=other_tester, grant=True)
    # Consent alone does not put an unapproved output on the lab's site.
    not_approved = ask(make_output(tester, state=Output.State.REJECTED), admin)
    use_request_answer(request=not_approved, by=tester, grant=True)

    rows = list(csv.DictReader(io.StringIO(consented_export(purpose="showcase", by=admin))))

    assert [(r["output"], r["credit"], r["credit_link"]) for r in rows] == [
        (str(approved.id), "Ada L.", "https://ada.example")
    ]
    assert rows[0]["prompt"] == approved.job.prompt
    assert OutputUse.objects.get().request == granted
    export = AuditEntry.objects.get(action="fairness.use.exported")
    assert export.details == {"purpose": "showcase", "outputs": [str(approved.id)]}


def test_only_the_artist_answers_and_only_program_staff_ask(
    admin, reviewer, tester, other_tester, approved
):
    with pytest.raises(PermissionDenied):
        ask(approved, reviewer)
    request = ask(approved, admin)

    for outsider in (other_tester, admin):
        with pytest.raises(PermissionDenied):
            use_request_answer(request=request, by=outsider, grant=True)

    assert UseRequest.objects.get().state == UseRequest.State.PENDING


def test_the_artist_is_told_of_a_request_by_email(
    admin, tester, approved, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ask(approved, admin)

    assert [m.to for m in mail.outbox] == [[tester.email]]
    assert "For the launch page?" in mail.outbox[0].body
    assert "Nothing is used unless you agree." in mail.outbox[0].body


def test_a_training_request_is_answered_by_the_preference_recorded_at_submission(
    admin, tester, outputs_dir
):
    training_preference_set(user=tester, opted_in=True)
    submitted_opted_in = make_output(tester)
    training_preference_set(user=tester, opted_in=False)
    submitted_opted_out = make_output(tester)

    by_preference = ask(submitted_opted_in, admin, Purpose.TRAINING)
    asked = ask(submitted_opted_out, admin, Purpose.TRAINING)
    showcase = ask(submitted_opted_in, admin, Purpose.SHOWCASE)

    assert (by_preference.state, asked.state, showcase.state) == ("granted", "pending", "pending")
    granted = AuditEntry.objects.get(action="fairness.use.granted")
    assert granted.details["by_preference"] is True and granted.actor is None
    use_consent_withdraw(request=by_preference, by=tester)
    assert consented_export(purpose="training", by=admin).splitlines()[1:] == []


def test_one_open_request_per_output_and_purpose(admin, tester, approved):
    first = ask(approved, admin)

    with pytest.raises(FairnessError, match="already has an open request"):
        ask(approved, admin)
    use_request_answer(request=first, by=tester, grant=False)

    assert ask(approved, admin).state == UseRequest.State.PENDING  # asked again, after a no


def test_the_artist_grants_and_withdraws_from_their_page(client, admin, tester, approved):
    request = ask(approved, admin)
    client.force_login(tester)
    url = reverse("use_answer", kwargs={"use_request_id": request.pk})

    assert client.post(url, {"answer": "maybe"}).status_code == 400
    assert client.post(url, {"answer": "grant"}).status_code == 302
    assert UseRequest.objects.get().state == UseRequest.State.GRANTED
    assert client.post(url, {"answer": "withdraw"}).status_code == 302
    assert UseRequest.objects.get().state == UseRequest.State.WITHDRAWN


def test_staff_download_the_export_as_csv(client, admin, tester, approved):
    use_request_answer(request=ask(approved, admin), by=tester, grant=True)
    client.force_login(admin)

    response = client.post(reverse("staff_uses_export"), {"purpose": "showcase"})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert str(approved.id) in response.content.decode()
    assert client.post(reverse("staff_uses_export"), {"purpose": "ads"}).status_code == 400
