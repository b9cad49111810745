"""Staff tokens and what they do: created only by staff with two-factor authentication (and the
role the scope acts for); with them, review decisions and containment through the very services
the staff pages call, leaving the same audit entries."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from access import audit as access_audit
from access.models import ApiToken, AuditEntry, Cohort, Program, User
from access.services import AccessError, token_create
from generation.models import Job
from review import audit as review_audit
from review.models import Output
from tests.factories import make_job, make_output

pytestmark = pytest.mark.django_db


def _post(client: Client, name: str, body, **kwargs):
    return client.post(reverse(name, kwargs=kwargs), body, content_type="application/json")


# --- staff tokens ------------------------------------------------------------------------------


def test_a_reviewer_with_two_factor_gets_a_review_token(reviewer):
    token = token_create(user=reviewer, name="queue bot", scopes=["review:write", "outputs:read"])

    assert token.token.scopes == ["outputs:read", "review:write"]


def test_an_admin_with_two_factor_gets_an_access_admin_token(admin):
    token = token_create(user=admin, name="pager", scopes=["access:admin"])

    assert token.token.scopes == ["access:admin"]


@pytest.mark.parametrize(
    ("who", "scope"),
    [
        ("tester", "review:write"),
        ("tester", "access:admin"),
        ("staff_without_mfa", "review:write"),  # a reviewer, but no second factor yet
        ("reviewer", "access:admin"),  # has two factors, but does not manage access
        ("admin", "review:write"),  # has two factors, but does not review
    ],
)
def test_staff_scopes_need_staff_with_two_factor_and_the_role(request, who, scope):
    user = request.getfixturevalue(who)

    with pytest.raises(AccessError) as refusal:
        token_create(user=user, name="x", scopes=[scope])

    assert scope in str(refusal.value)
    assert not ApiToken.objects.exists()


def test_a_staff_token_stops_working_when_its_holder_loses_two_factor(reviewer, token_client):
    client = token_client(reviewer)
    reviewer.authenticator_set.all().delete()

    response = client.get(reverse("api_review_queue"))

    assert response.status_code == 403
    assert "two-factor" in response.content.decode()


# --- review -------------------------------------------------------------------------------------


def test_a_reviewer_claims_and_releases_an_output(tester, reviewer, token_client, outputs_dir):
    output, client = make_output(tester), token_client(reviewer)

    claimed = _post(client, "api_review_claim", {}, output_id=output.id)
    released = _post(client, "api_review_claim", {"release": True}, output_id=output.id)

    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == reviewer.email
    assert released.status_code == 200 and released.json()["claimed_by"] is None


def test_an_output_claimed_by_another_reviewer_cannot_be_claimed(
    tester, reviewer, make_user, token_client, outputs_dir
):
    output = make_output(tester)
    _post(token_client(reviewer), "api_review_claim", {}, output_id=output.id)
    second = make_user("remy@vernissage.local", reviewer=True)

    response = _post(token_client(second), "api_review_claim", {}, output_id=output.id)

    assert response.status_code == 409
    assert reviewer.email in response.content.decode()


def test_an_approval_writes_the_same_audit_entry_as_the_page(
    tester, reviewer, token_client, outputs_dir
):
    output = make_output(tester)

    response = _post(
        token_client(reviewer), "api_review_decision", {"decision": "approve"}, output_id=output.id
    )

    assert response.status_code == 200
    assert response.json()["review"]["state"] == "approved"
    entry = AuditEntry.objects.get(action=review_audit.OUTPUT_APPROVED)
    assert (entry.actor, entry.target_id) == (reviewer, str(output.id))


def test_a_rejection_records_the_reason_the_artist_reads(
    tester, reviewer, token_client, outputs_dir, settings
):
    output = make_output(tester)
    reason = settings.REVIEW_REJECT_REASONS[0]

    body = _post(
        token_client(reviewer),
        "api_review_decision",
        {"decision": "reject", "reason": reason},
        output_id=output.id,
    ).json()
    shown = token_client(tester).get(reverse("api_output", kwargs={"output_id": output.id})).json()

    assert body["review"]["state"] == "rejected"
    assert (shown["review"]["state"], shown["review"]["reason"]) == ("rejected", reason)
    assert AuditEntry.objects.filter(action=review_audit.OUTPUT_REJECTED).count() == 1


def test_nobody_decides_their_own_output(reviewer, token_client, outputs_dir):
    own = make_output(reviewer)

    response = _post(
        token_client(reviewer), "api_review_decision", {"decision": "approve"}, output_id=own.id
    )

    assert response.status_code == 409
    assert Output.objects.get(pk=own.pk).state == Output.State.PENDING


def test_a_bulk_decision_reports_each_item(tester, reviewer, token_client, outputs_dir):
    first, second, own = make_output(tester), make_output(tester), make_output(reviewer)
    missing = "00000000-0000-0000-0000-000000000000"
    ids = [str(first.id), str(second.id), str(own.id), missing]

    body = _post(
        token_client(reviewer), "api_review_bulk", {"output_ids": ids, "decision": "approve"}
    ).json()

    assert sorted(body["done"]) == sorted([str(first.id), str(second.id)])
    assert set(body["errors"]) == {str(own.id), missing}
    assert AuditEntry.objects.filter(action=review_audit.OUTPUT_APPROVED).count() == 2


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("api_review_decision", {"decision": "maybe"}, "decision"),
        # A lone surrogate quoted back in the refusal made the answer unencodable: a 500.
        ("api_review_decision", {"decision": "x\ud800y"}, "decision"),
        ("api_review_decision", {"decision": 1}, "decision"),
        ("api_review_decision", {"decision": "reject"}, "reason"),
        ("api_review_decision", {"decision": "reject", "reason": "I dislike it"}, "reason"),
        ("api_review_decision", {"decision": "changes"}, "note"),
        ("api_review_decision", {"decision": "approve", "note": "x" * 2001}, "note"),
        ("api_review_claim", {"release": "yes"}, "release"),
        ("api_review_bulk", {"output_ids": ["not-an-id"], "decision": "approve"}, "output_ids"),
        ("api_review_bulk", {"output_ids": [], "decision": "approve"}, "output_ids"),
        ("api_review_bulk", {"output_ids": "abc", "decision": "approve"}, "output_ids"),
        ("api_review_bulk", {"output_ids": [], "decision": "changes"}, "decision"),
    ],
)
def test_a_bad_review_request_is_a_400_naming_the_field(
    tester, reviewer, token_client, outputs_dir, name, body, field
):
    output = make_output(tester)
    kwargs = {} if name == "api_review_bulk" else {"output_id": output.id}

    response = _post(token_client(reviewer), name, body, **kwargs)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert Output.objects.get(pk=output.pk).state == Output.State.PENDING
    assert not AuditEntry.objects.filter(action__startswith="review.").exists()


# --- containment --------------------------------------------------------------------------------


def test_revoking_a_tester_ends_everything_and_audits_it_as_the_page_does(
    tester, admin, token_client
):
    victim_client = token_client(tester)
    job = make_job(tester)

    response = _post(
        token_client(admin),
        "api_contain_tester",
        {"action": "revoke", "reason": "a leak"},
        user_id=tester.pk,
    )

    assert response.status_code == 200, response.content
    report = response.json()["report"]
    assert (report["testers"], report["queued_jobs_cancelled"], report["tokens_revoked"]) == (
        1,
        1,
        1,
    )
    assert Job.objects.get(pk=job.pk).state == Job.State.CANCELLED
    entry = AuditEntry.objects.get(action=access_audit.TESTER_REVOKED)
    assert (entry.actor, entry.details["reason"]) == (admin, "a leak")
    assert victim_client.get(reverse("api_models")).status_code == 401


def test_a_suspended_tester_is_reinstated(tester, admin, token_client):
    client = token_client(admin)
    _post(
        client, "api_contain_tester", {"action": "suspend", "reason": "a leak"}, user_id=tester.pk
    )

    response = _post(client, "api_contain_tester", {"action": "reinstate"}, user_id=tester.pk)

    assert response.status_code == 200 and response.json()["report"] is None
    assert User.objects.get(pk=tester.pk).standing == User.Standing.ACTIVE
    assert AuditEntry.objects.filter(action=access_audit.TESTER_REINSTATED).count() == 1


def test_a_cohort_is_suspended_and_reinstated(tester, admin, token_client):
    client = token_client(admin)

    suspended = _post(
        client,
        "api_contain_cohort",
        {"action": "suspend", "reason": "a leak"},
        cohort_id=tester.cohort_id,
    )
    twice = _post(
        client,
        "api_contain_cohort",
        {"action": "suspend", "reason": "a leak"},
        cohort_id=tester.cohort_id,
    )
    reinstated = _post(
        client, "api_contain_cohort", {"action": "reinstate"}, cohort_id=tester.cohort_id
    )

    assert suspended.status_code == 200 and suspended.json()["report"]["testers"] == 1
    assert twice.status_code == 409  # already suspended
    assert reinstated.status_code == 200
    assert Cohort.objects.get(pk=tester.cohort_id).suspended_at is None
    assert AuditEntry.objects.filter(action=access_audit.COHORT_SUSPENDED).count() == 1


def test_the_program_is_paused_and_resumed_while_staff_keep_working(tester, admin, token_client):
    client, tester_client = token_client(admin), token_client(tester)

    paused = _post(client, "api_contain_program", {"action": "pause", "reason": "a leak"})
    refused = tester_client.get(reverse("api_models"))
    resumed = _post(client, "api_contain_program", {"action": "resume"})

    assert paused.status_code == 200 and refused.status_code == 401
    assert resumed.status_code == 200 and not Program.is_paused()
    assert AuditEntry.objects.filter(action=access_audit.PROGRAM_PAUSED).count() == 1
    assert AuditEntry.objects.filter(action=access_audit.PROGRAM_RESUMED).count() == 1


def test_staff_accounts_are_not_contained_through_the_tester_endpoint(
    reviewer, admin, token_client
):
    response = _post(
        token_client(admin),
        "api_contain_tester",
        {"action": "suspend", "reason": "x"},
        user_id=reviewer.pk,
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("api_contain_tester", {"action": "explode", "reason": "x"}, "action"),
        ("api_contain_tester", {"action": "x\ud800y", "reason": "x"}, "action"),
        ("api_contain_tester", {"action": "suspend"}, "reason"),
        ("api_contain_tester", {"action": "revoke", "reason": "   "}, "reason"),
        ("api_contain_tester", {"action": "suspend", "reason": "x" * 501}, "reason"),
        ("api_contain_cohort", {"action": "pause", "reason": "x"}, "action"),
        ("api_contain_program", {"action": "suspend", "reason": "x"}, "action"),
        ("api_contain_program", {"action": "pause", "reason": 5}, "reason"),
    ],
)
def test_a_bad_containment_request_is_a_400_naming_the_field(
    tester, admin, token_client, name, body, field
):
    client = token_client(admin)
    kwargs = {
        "api_contain_tester": {"user_id": tester.pk},
        "api_contain_cohort": {"cohort_id": tester.cohort_id},
        "api_contain_program": {},
    }[name]
    entries = AuditEntry.objects.count()

    response = _post(client, name, body, **kwargs)

    assert response.status_code == 400
    assert field in response.content.decode()
    assert AuditEntry.objects.count() == entries
    assert User.objects.get(pk=tester.pk).may_act()


def test_the_token_page_offers_staff_scopes_only_to_staff_who_may_hold_them(
    client, tester, reviewer
):
    offered = {}
    for user in (tester, reviewer):
        client.force_login(user)
        form = client.get(reverse("tokens")).context["form"]
        offered[user.email] = {value for value, _label in form.fields["scopes"].choices}
    client.force_login(tester)
    refused = client.post(reverse("tokens"), {"name": "x", "scopes": ["review:write"], "days": 7})

    assert "review:write" not in offered[tester.email]
    assert {"review:write", "outputs:read"} <= offered[reviewer.email]
    assert "access:admin" not in offered[reviewer.email]
    assert "scopes" in refused.context["form"].errors
    assert not ApiToken.objects.exists()
