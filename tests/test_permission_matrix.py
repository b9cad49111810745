"""Who may reach what: every role against every endpoint of every app, as one table.

Rows are (URL name, method); columns are the roles below. Another tester's objects answer 404
(their existence is not disclosed); staff-only pages answer 403 to everyone else; anonymous
visitors are sent to sign in (HTML) or refused with 401 (API); a suspended tester gets 403
everywhere. A refused request (and every GET) changes nothing. A URL name in `access.urls`,
`generation.urls`, `review.urls`, `ops.urls` or either API without a row fails
`generation.urls`, `review.urls`, `fairness.urls` or either API without a row fails
`test_every_endpoint_has_a_row`.

The objects: the owner's queued job, approved output (not in the gallery) with a live share
link, feedback and staff's pending request to showcase it, output awaiting review, rejected
output, open appeal and API token; a pending invitation; a red-teamer's finding on their own
output; a tester for staff to act on, under a legal hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse

from access import urls as access_urls
from access.models import (
    ApiToken,
    AuditEntry,
    Cohort,
    Invitation,
    Program,
    TermsAcceptance,
    User,
)
from access.services import (
    IssuedInvitation,
    invitation_create,
    terms_accept,
    terms_publish,
    token_create,
)
from containment.api import urls as containment_api_urls
from containment.services import tester_suspend as suspend
from fairness import urls as fairness_urls
from fairness.models import (
    Appeal,
    LegalHold,
    OutputUse,
    Thread,
    ThreadMessage,
    TrainingPreference,
    UseRequest,
)
from fairness.services import appeal_file, legal_hold_place, use_request_create
from generation import urls as generation_urls
from generation.api import urls as generation_api_urls
from generation.models import Job
from ops import urls as ops_urls
from provenance import urls as provenance_urls
from provenance.api import urls as provenance_api_urls
from provenance.models import Trace
from review import urls as review_urls
from review.api import urls as review_api_urls
from review.media import download_sign
from review.models import Approval, Feedback, Finding, NotificationPreference, Output, ShareLink
from review.services import feedback_submit, finding_file, share_link_create
from tests.conftest import run_async, socket_outcome
from tests.factories import make_job, make_output

# Who may do what is decided in Python, the same on either engine: the PostgreSQL pass runs it.
pytestmark = [pytest.mark.django_db, pytest.mark.postgres_pass]

LOGIN = "login"  # a redirect to the sign-in page
ROLES = ("anonymous", "owner", "other", "red_teamer", "reviewer", "admin", "suspended")

# (url name, method) -> expected status per role, in the order of ROLES
MATRIX = {
    # access: invitations, terms, tokens, staff pages
    ("invitation_open", "get"): (200, 302, 302, 302, 302, 302, 403),  # anonymous: landing
    ("terms", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("terms", "post"): (LOGIN, 302, 302, 302, 302, 302, 403),
    ("tokens", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("tokens", "post"): (LOGIN, 200, 200, 200, 200, 200, 403),  # the new token, shown once
    ("token_revoke", "post"): (LOGIN, 302, 404, 404, 404, 302, 403),  # the owner's token
    ("staff_invitations", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_invitations", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("staff_invitation_action", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("staff_testers", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_tester_action", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("staff_audit", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_containment", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_containment", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    # generation pages
    ("studio", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("studio", "post"): (LOGIN, 302, 302, 302, 400, 400, 403),  # staff are not testers
    ("job_cancel", "post"): (LOGIN, 302, 404, 404, 302, 404, 403),  # the owner's job
    # review pages: the queue (reviewers only)
    ("review_queue", "get"): (LOGIN, 403, 403, 403, 200, 403, 403),
    ("review_bulk", "post"): (LOGIN, 403, 403, 403, 302, 403, 403),
    ("review_stats", "get"): (LOGIN, 403, 403, 403, 200, 403, 403),
    ("review_claim", "post"): (LOGIN, 403, 403, 403, 302, 403, 403),
    ("review_decide", "post"): (LOGIN, 403, 403, 403, 302, 403, 403),
    ("review_undo", "post"): (LOGIN, 403, 403, 403, 302, 403, 403),  # nothing to undo: refused
    ("review_tester_note", "post"): (LOGIN, 403, 403, 403, 302, 403, 403),
    # review pages: findings (the red-teamer's; only reviewers move them)
    ("findings", "get"): (LOGIN, 403, 403, 200, 200, 403, 403),  # the red team's, and reviewers'
    ("finding_action", "post"): (LOGIN, 404, 404, 403, 302, 404, 403),
    # review pages: everyone's own
    ("gallery", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("my_shares", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("share_revoke", "post"): (LOGIN, 302, 404, 404, 302, 404, 403),  # the owner's link
    ("preferences", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("preferences", "post"): (LOGIN, 302, 302, 302, 302, 302, 403),
    # review pages: the owner's output
    ("output_detail", "get"): (LOGIN, 200, 404, 404, 200, 404, 403),
    ("output_share", "post"): (LOGIN, 302, 404, 404, 403, 404, 403),
    ("output_gallery", "post"): (LOGIN, 302, 404, 404, 403, 404, 403),
    ("output_feedback", "post"): (LOGIN, 302, 404, 404, 403, 404, 403),
    ("output_finding", "post"): (LOGIN, 403, 404, 404, 302, 404, 403),  # red-teamers and staff
    ("output_video", "get"): (LOGIN, 200, 404, 404, 200, 404, 403),
    ("output_poster", "get"): (LOGIN, 200, 404, 404, 200, 404, 403),
    # review pages: the public share link (a suspended tester is signed out first)
    ("shared_page", "get"): (200, 200, 200, 200, 200, 200, 403),
    ("shared_video", "get"): (200, 200, 200, 200, 200, 200, 403),
    ("shared_poster", "get"): (200, 200, 200, 200, 200, 200, 403),
    # generation API
    ("api_jobs", "get"): (401, 200, 200, 200, 200, 200, 403),
    ("api_jobs", "post"): (401, 201, 201, 201, 400, 400, 403),  # staff are not testers
    ("api_job", "get"): (401, 200, 404, 404, 200, 404, 403),  # the owner's job
    ("api_job_cancel", "post"): (401, 200, 404, 404, 200, 404, 403),
    # review API
    ("api_review_queue", "get"): (401, 403, 403, 403, 200, 403, 403),
    # fairness: the program page, the artist's own page, settings, archive, answers and appeals
    ("program", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("artist_home", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("artist_settings", "post"): (LOGIN, 302, 302, 302, 302, 302, 403),
    ("artist_archive", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("use_answer", "post"): (LOGIN, 302, 404, 404, 404, 404, 403),  # the owner's request
    ("output_appeal", "post"): (LOGIN, 302, 404, 404, 404, 404, 403),  # the owner's rejection
    ("output_delete", "post"): (LOGIN, 302, 404, 404, 404, 404, 403),  # the owner's rejection
    # fairness: staff who manage the program (admins) ask, record uses and export
    ("staff_uses", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_uses", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("staff_uses_export", "post"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_use_record", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("staff_holds", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_holds", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("staff_hold_release", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    # fairness: appeals (reviewers)
    ("appeals", "get"): (LOGIN, 403, 403, 403, 200, 403, 403),
    ("appeal_decision", "post"): (LOGIN, 403, 403, 403, 302, 403, 403),
    # fairness: threads on feedback (the owner's) and findings (the red-teamer's)
    ("threads", "get"): (LOGIN, 200, 200, 200, 200, 200, 403),
    ("feedback_reply", "post"): (LOGIN, 302, 404, 404, 302, 404, 403),
    ("feedback_status", "post"): (LOGIN, 403, 404, 404, 302, 404, 403),
    ("finding_reply", "post"): (LOGIN, 404, 404, 302, 302, 404, 403),
    ("finding_status", "post"): (LOGIN, 404, 404, 403, 302, 404, 403),
    # provenance: leak trace (admins and the "Leak response" role; tests/provenance has the role)
    ("staff_traces", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_traces", "post"): (LOGIN, 403, 403, 403, 403, 400, 403),  # no file: named 400
    ("staff_trace", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
    ("staff_trace_contain", "post"): (LOGIN, 403, 403, 403, 403, 302, 403),
    ("api_traces", "post"): (401, 403, 403, 403, 403, 415, 403),  # JSON, not multipart: 415
    ("api_trace", "get"): (401, 403, 403, 403, 403, 200, 403),
    # API coverage (session auth; each POST sends {"reason": "x"}: where the body is wrong for the
    # endpoint, a caller who may make the request gets 400, one who may not the usual 403/404)
    ("api_models", "get"): (401, 200, 200, 200, 200, 200, 403),
    ("api_budget", "get"): (401, 200, 200, 200, 200, 200, 403),
    ("api_job_rerun", "post"): (401, 201, 404, 404, 403, 404, 403),  # the owner's job
    ("api_outputs", "get"): (401, 200, 200, 200, 200, 200, 403),
    ("api_output", "get"): (401, 200, 404, 404, 200, 404, 403),
    ("api_output_content", "get"): (401, 302, 404, 404, 302, 404, 403),
    ("api_output_poster", "get"): (401, 302, 404, 404, 302, 404, 403),
    ("api_output_shares", "post"): (401, 201, 404, 404, 403, 404, 403),
    ("api_output_feedback", "get"): (401, 200, 404, 404, 404, 404, 403),
    ("api_output_feedback", "post"): (401, 400, 404, 404, 400, 404, 403),  # no rating
    ("api_output_findings", "post"): (401, 400, 404, 404, 400, 404, 403),  # no category
    ("api_download", "get"): (200, 200, 200, 200, 200, 200, 403),  # the owner's signed link
    ("api_shares", "get"): (401, 200, 200, 200, 200, 200, 403),
    ("api_share_revoke", "post"): (401, 200, 404, 404, 200, 404, 403),
    ("api_findings", "get"): (401, 200, 200, 200, 200, 200, 403),
    ("api_finding", "get"): (401, 404, 404, 200, 200, 404, 403),
    ("api_finding_move", "post"): (401, 403, 403, 403, 400, 403, 403),  # no `to`
    ("api_review_claim", "post"): (401, 403, 403, 403, 200, 403, 403),
    ("api_review_decision", "post"): (401, 403, 403, 403, 400, 403, 403),  # no decision
    ("api_review_bulk", "post"): (401, 403, 403, 403, 400, 403, 403),  # no output_ids
    ("api_contain_tester", "post"): (401, 403, 403, 403, 403, 400, 403),  # no action
    ("api_contain_cohort", "post"): (401, 403, 403, 403, 403, 400, 403),
    ("api_contain_program", "post"): (401, 403, 403, 403, 403, 400, 403),
}

# Operations: pages with no object of their own, so they need only the people, not the world.
# Probes and metrics need no account (metrics: the test client is on loopback, the default
# allow-list; readiness is 503 because no worker serves the queue here); a suspended tester's
# session is ended first, as everywhere.
OPS_MATRIX = {
    ("health_live", "get"): (200, 200, 200, 200, 200, 200, 403),
    ("health_ready", "get"): (503, 503, 503, 503, 503, 503, 403),
    ("metrics", "get"): (200, 200, 200, 200, 200, 200, 403),
    ("staff_usage", "get"): (LOGIN, 403, 403, 403, 403, 200, 403),
}


def test_every_endpoint_has_a_row():
    modules = (
        access_urls,
        generation_urls,
        review_urls,
        generation_api_urls,
        review_api_urls,
        ops_urls,
        fairness_urls,
        provenance_urls,
        provenance_api_urls,
        containment_api_urls,
    )
    names = {pattern.name for module in modules for pattern in module.urlpatterns}

    assert names == {name for name, _method in MATRIX | OPS_MATRIX}


# --- the world every request is made in -----------------------------------------------------------


@dataclass
class World:
    people: dict[str, User | None]
    invitation: IssuedInvitation
    token: ApiToken
    job: Job  # the owner's, queued
    output: Output  # the owner's, approved, not in the gallery
    pending: Output  # the owner's, awaiting review
    link: ShareLink  # to the owner's output
    finding: Finding  # the red-teamer's, on their own output
    target: User  # a tester for staff to act on
    rejected: Output  # the owner's, rejected, not yet appealed
    use_request: UseRequest  # staff's pending request to showcase the owner's output
    appeal: Appeal  # the owner's open appeal of another rejection
    feedback: Feedback  # the owner's, on their approved output
    hold: LegalHold  # an active one, on the tester for staff to act on
    trace: Trace  # a finished trace that named nobody


@pytest.fixture
def people(tester, other_tester, red_teamer, reviewer, admin, make_user) -> dict[str, User | None]:
    suspended = make_user("sam@example.com")
    suspend(tester=suspended, by=admin, reason="matrix")
    return {
        "anonymous": None,
        "owner": tester,
        "other": other_tester,
        "red_teamer": red_teamer,
        "reviewer": reviewer,
        "admin": admin,
        "suspended": User.objects.get(pk=suspended.pk),
    }


@pytest.fixture
def world(people, make_user, cohort, outputs_dir) -> World:
    owner, red_teamer, admin = people["owner"], people["red_teamer"], people["admin"]
    target = make_user("tia@example.com")
    terms = terms_publish(title="Alpha terms", body="Keep it to yourself.", by=admin)
    for tester in (owner, people["other"], red_teamer, target):
        terms_accept(user=tester, terms=terms)
    output = make_output(owner, state=Output.State.APPROVED)
    finding = finding_file(
        output=make_output(red_teamer),
        by=red_teamer,
        category="other",
        severity="low",
        description="a matrix finding",
    )
    return World(
        people=people,
        invitation=invitation_create(email="new@example.com", invited_by=admin, cohort=cohort),
        token=token_create(user=owner, name="cli", scopes=["jobs:read"]).token,
        job=make_job(owner),
        output=output,
        pending=make_output(owner),
        link=share_link_create(output=output, by=owner),
        finding=finding,
        target=target,
        rejected=make_output(owner, state=Output.State.REJECTED),
        use_request=use_request_create(
            output=output, purpose="showcase", message="For the site?", by=admin
        ),
        appeal=appeal_file(
            output=make_output(owner, state=Output.State.REJECTED), by=owner, note="look again"
        ),
        feedback=feedback_submit(output=output, by=owner, rating=3, notes="hands melt"),
        hold=legal_hold_place(tester=target, by=admin, reason="an investigation"),
        trace=Trace.objects.create(
            file_name="traces/x/suspect.mp4", size_bytes=1, sha256="0" * 64, state="done"
        ),
    )


JOB_FORM = {"model": "demo", "prompt": "a lantern", "num_frames": 5, "width": 32, "height": 32}


def _kwargs(world: World, name: str) -> dict:
    output, job = {"output_id": world.output.id}, {"job_id": world.job.id}
    pending = {"output_id": world.pending.id}
    share = {"token": world.link.token}
    return {
        "invitation_open": {"code": world.invitation.code},
        "token_revoke": {"token_id": world.token.pk},
        "staff_invitation_action": {
            "invitation_id": world.invitation.invitation.pk,
            "action": "revoke",
        },
        "staff_tester_action": {"user_id": world.target.pk, "action": "suspend"},
        "job_cancel": job,
        "api_job": job,
        "api_job_cancel": job,
        "review_claim": pending,
        "review_decide": pending,
        "review_undo": pending,
        "review_tester_note": {"user_id": world.target.pk},
        "output_detail": output,
        "output_share": output,
        "output_gallery": output,
        "output_feedback": output,
        "output_finding": output,
        "output_video": output,
        "output_poster": output,
        "finding_action": {"finding_id": world.finding.pk},
        "share_revoke": {"link_id": world.link.pk},
        "shared_page": share,
        "shared_video": share,
        "shared_poster": share,
        "use_answer": {"use_request_id": world.use_request.pk},
        "output_appeal": {"output_id": world.rejected.id},
        "output_delete": {"output_id": world.rejected.id},
        "staff_hold_release": {"legal_hold_id": world.hold.pk},
        "staff_use_record": {"use_request_id": world.use_request.pk},
        "appeal_decision": {"appeal_id": world.appeal.pk},
        "feedback_reply": {"feedback_id": world.feedback.pk},
        "feedback_status": {"feedback_id": world.feedback.pk},
        "finding_reply": {"finding_id": world.finding.pk},
        "finding_status": {"finding_id": world.finding.pk},
        "staff_trace": {"trace_id": world.trace.id},
        "staff_trace_contain": {"trace_id": world.trace.id},
        "api_trace": {"trace_id": world.trace.id},
        "api_job_rerun": job,
        "api_output": output,
        "api_output_content": output,
        "api_output_poster": output,
        "api_output_shares": output,
        "api_output_feedback": output,
        "api_output_findings": output,
        "api_download": {"signed": _signed_link(world)},
        "api_share_revoke": {"link_id": world.link.pk},
        "api_finding": {"finding_id": world.finding.pk},
        "api_finding_move": {"finding_id": world.finding.pk},
        "api_review_claim": pending,
        "api_review_decision": pending,
        "api_contain_tester": {"user_id": world.target.pk},
        "api_contain_cohort": {"cohort_id": world.target.cohort_id},
    }.get(name, {})


def _signed_link(world: World) -> str:
    owner = world.people["owner"]
    assert owner is not None
    return download_sign(output=world.output, user=owner, file="video", token=None).signed


def _form(world: World, name: str) -> dict:
    """What each HTML form posts: a request that succeeds for whoever may make it."""
    return {
        "studio": JOB_FORM,
        "tokens": {"name": "laptop", "scopes": ["jobs:read"], "days": 30},
        "terms": {"version": "1", "accept": "yes"},
        "staff_invitations": {
            "single": "1",
            "email": "zoe@example.com",
            "cohort": world.target.cohort_id,
        },
        "token_revoke": {"confirm": "1"},  # the confirm step (a POST without it only asks)
        "staff_tester_action": {"reason": "matrix", "confirm": "1"},
        "staff_containment": {"action": "pause", "reason": "matrix", "confirm": "1"},
        "review_decide": {"decision": "approve"},
        "review_tester_note": {"body": "matrix"},
        "review_bulk": {"output": [str(world.pending.id)], "decision": "approve"},
        "finding_action": {"to": "triaged"},
        "preferences": {"email_on_decision": "0"},
        "output_gallery": {"show": "1"},
        "output_feedback": {"rating": "4"},
        "output_finding": {"category": "other", "severity": "low", "description": "odd"},
        "artist_settings": {"credit_name": "A. Artist", "training_opt_in": "on"},
        "use_answer": {"answer": "grant"},
        "output_appeal": {"note": "please look again"},
        "output_delete": {"confirm": "1"},
        "staff_holds": {"tester": "bob@example.com", "reason": "an investigation"},
        "staff_uses": {
            "output": str(world.pending.id),
            "purpose": "training",
            "message": "May we?",
        },
        "staff_uses_export": {"purpose": "showcase"},
        "staff_use_record": {"note": "homepage"},
        "appeal_decision": {"outcome": "uphold", "note": "it stands"},
        "feedback_reply": {"body": "thanks"},
        "feedback_status": {"to": "investigating", "note": "looking"},
        "finding_reply": {"body": "thanks"},
        "finding_status": {"to": "investigating", "note": "looking"},
    }.get(name, {})


def _request(client, world: World, name: str, method: str):
    url = reverse(name, kwargs=_kwargs(world, name))
    if name.startswith("api_"):
        data = {"model": "demo", "prompt": "a lantern"} if name == "api_jobs" else {"reason": "x"}
        if method == "get":
            return client.get(url)
        return client.post(url, data, content_type="application/json")
    return getattr(client, method)(url, _form(world, name) if method == "post" else {})


def _state(world: World) -> tuple:
    """Everything a request could change, but a refused one (or a GET) must not."""
    return (
        sorted(Invitation.objects.values_list("email", "state")),
        sorted(TermsAcceptance.objects.values_list("user_id", "terms_id")),
        Program.is_paused(),
        sorted(Cohort.objects.values_list("name", "suspended_at")),
        ApiToken.objects.filter(revoked_at__isnull=True).count(),
        ApiToken.objects.count(),
        sorted(User.objects.values_list("email", "standing", "is_active")),
        sorted(Job.objects.values_list("prompt", "state")),
        sorted(Output.objects.values_list("id", "state", "in_gallery", "claimed_by")),
        sorted(ShareLink.objects.values_list("id", "revoked_at")),
        sorted(Finding.objects.values_list("id", "state")),
        Approval.objects.count(),
        Feedback.objects.count(),
        NotificationPreference.objects.count(),
        AuditEntry.objects.count(),
        sorted(UseRequest.objects.values_list("id", "state")),
        OutputUse.objects.count(),
        sorted(Appeal.objects.values_list("id", "state")),
        sorted(TrainingPreference.objects.values_list("user_id", "opted_in")),
        sorted(User.objects.values_list("id", "display_name", "credit_url")),
        sorted(Thread.objects.values_list("id", "state")),
        ThreadMessage.objects.count(),
        sorted(LegalHold.objects.values_list("id", "tester_id", "released_at")),
    )


@pytest.mark.parametrize(("name", "method"), MATRIX)
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(client, world, dispatched, name, method, role):
    person = world.people[role]
    if person is not None:
        client.force_login(person)
    before = _state(world)

    response = _request(client, world, name, method)

    want = MATRIX[name, method][ROLES.index(role)]
    if want == LOGIN:
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))
    else:
        assert response.status_code == want, getattr(response, "content", b"")[:300]
    if want in (LOGIN, 401, 403, 404, 400) or method == "get":
        assert _state(world) == before
    created_a_link = ShareLink.objects.exclude(pk=world.link.pk).exists()
    assert created_a_link is (role == "owner" and name in ("output_share", "api_output_shares"))


def _outcome(response) -> int | str:
    if response.status_code == 302 and response.url.startswith(reverse("account_login")):
        return LOGIN
    return response.status_code


@pytest.mark.parametrize(("name", "method"), OPS_MATRIX)
def test_operations_matrix(people, name, method):
    """Every role in one test (the people are all these pages need): a row at a time."""
    before = (AuditEntry.objects.count(), sorted(User.objects.values_list("email", "standing")))
    got = []
    for role in ROLES:
        client = Client()
        if people[role] is not None:
            client.force_login(people[role])
        got.append(_outcome(getattr(client, method)(reverse(name))))

    assert tuple(got) == OPS_MATRIX[name, method], dict(zip(ROLES, got, strict=True))
    after = (AuditEntry.objects.count(), sorted(User.objects.values_list("email", "standing")))
    assert after == before


def test_another_testers_job_is_absent_from_their_api_list(
    client, tester, other_tester, outputs_dir
):
    make_output(tester)
    client.force_login(other_tester)

    assert client.get(reverse("api_jobs")).json()["results"] == []


def test_anonymous_visitors_get_an_approved_output_only_through_its_share_link(
    client, tester, outputs_dir
):
    pending = make_output(tester)
    approved = make_output(tester, state=Output.State.APPROVED)
    client.force_login(tester)
    client.post(reverse("output_share", kwargs={"output_id": approved.id}))
    client.post(reverse("output_share", kwargs={"output_id": pending.id}))
    client.logout()

    token = ShareLink.objects.get().token

    assert ShareLink.objects.get().output == approved
    assert client.get(reverse("shared_video", kwargs={"token": token})).status_code == 200
    for output in (pending, approved):
        response = client.get(reverse("output_video", kwargs={"output_id": output.id}))
        assert response.status_code == 302


# --- websockets -------------------------------------------------------------------------------

OPEN = "open"  # accepted, and its snapshot came
# endpoint -> what each role gets, in the order of ROLES (close codes: realtime.consumers)
SOCKETS = {
    "/ws/studio/": (4401, OPEN, OPEN, OPEN, OPEN, OPEN, 4403),
    "/ws/jobs/{job}/": (4401, OPEN, 4404, 4404, OPEN, 4404, 4403),  # the owner's job
    "/ws/review/": (4401, 4403, 4403, 4403, OPEN, 4403, 4403),
    "/ws/artist/": (4401, OPEN, OPEN, OPEN, OPEN, OPEN, 4403),
    "/ws/traces/{trace}/": (4401, 4404, 4404, 4404, 4404, OPEN, 4403),  # tracers only
}


async def _socket(path: str, user) -> str | int | None:
    connected, code, _ = await socket_outcome(path, user)
    return OPEN if connected else code


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("endpoint", SOCKETS)
@pytest.mark.parametrize("role", ROLES)
def test_socket_matrix(people, endpoint, role):
    job = make_job(people["owner"])
    trace = Trace.objects.create(file_name="traces/x.mp4", size_bytes=1, sha256="0" * 64)
    user = people[role] or AnonymousUser()

    outcome = run_async(lambda: _socket(endpoint.format(job=job.id, trace=trace.id), user))

    assert outcome == SOCKETS[endpoint][ROLES.index(role)]


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_a_socket_from_a_foreign_origin_is_refused(tester):
    connected, _, _ = run_async(
        lambda: socket_outcome("/ws/studio/", tester, origin=b"https://evil.example")
    )

    assert connected is False
