"""`contain` is an orchestrator: each app ends its own part through its own service, once, and the
action writes exactly one audit entry. Nothing is stubbed out here: every step is wrapped by a
recorder that passes the call on to the real service, so the effects happen as in production.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from access.models import AuditEntry, User
from access.services import AccessError
from containment import services as containment
from containment.services import cohort_suspend, program_pause
from containment.services import tester_revoke as revoke_tester
from containment.services import tester_suspend as suspend_tester
from generation.models import Job
from realtime import groups
from review.models import Output
from review.services import share_link_create
from tests.conftest import browser_signed_in
from tests.factories import make_job, make_output

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("dispatched")]

REASON = "put a public front-end on the alpha"
# The steps `contain` takes, each owned by another app (names as containment imports them).
STEPS = (
    "tester_standing_end",  # access
    "cohort_standing_suspend",  # access
    "program_standing_pause",  # access
    "sessions_end_for",  # access
    "tokens_revoke_for",  # access
    "jobs_stop_for",  # generation
    "share_links_down_for",  # review
    "publish",  # realtime, after commit
    "jobs_dispatch_all",  # generation, after commit
)
AFFECTED = {
    "revoke": {"ada"},
    "suspend": {"ada"},
    "cohort": {"ada", "bob"},
    "pause": {"ada", "bob", "cy"},
}
STANDING_STEP = {
    "revoke": "tester_standing_end",
    "suspend": "tester_standing_end",
    "cohort": "cohort_standing_suspend",
    "pause": "program_standing_pause",
}
AUDIT_ACTION = {
    "revoke": "access.tester.revoked",
    "suspend": "access.tester.suspended",
    "cohort": "access.cohort.suspended",
    "pause": "access.program.paused",
}
COMMAND = {
    "revoke": ["tester", "ada@example.com", "revoke"],
    "suspend": ["tester", "ada@example.com", "suspend"],
    "cohort": ["cohort", "Test cohort", "suspend"],
    "pause": ["program", "pause"],
}


@pytest.fixture
def calls(monkeypatch) -> dict[str, list[dict]]:
    """Every step of `contain`, recorded: step name -> the keyword arguments of each call."""
    recorded: dict[str, list[dict]] = {name: [] for name in STEPS}

    def recorder(name, real):
        def step(*args, **kwargs):
            recorded[name].append({**kwargs, **({"args": args} if args else {})})
            return real(*args, **kwargs)

        return step

    for name in STEPS:
        monkeypatch.setattr(containment, name, recorder(name, getattr(containment, name)))
    return recorded


@pytest.fixture
def world(people, outputs_dir) -> None:
    """Each tester has a signed-in browser, a queued job and a live share link."""
    for name in ("ada", "bob", "cy"):
        tester = people[name]
        browser_signed_in(tester)
        make_job(tester)
        share_link_create(output=make_output(tester, state=Output.State.APPROVED), by=tester)


def _contain(scope: str, people: dict[str, User]):
    ada, by = people["ada"], people["alan"]
    if scope == "revoke":
        return revoke_tester(tester=ada, by=by, reason=REASON)
    if scope == "suspend":
        return suspend_tester(tester=ada, by=by, reason=REASON)
    if scope == "cohort":
        return cohort_suspend(cohort=ada.cohort, by=by, reason=REASON)
    return program_pause(by=by, reason=REASON)


def _ids(people: dict[str, User], scope: str) -> list[int]:
    return sorted(people[name].pk for name in AFFECTED[scope])


@pytest.mark.parametrize("scope", AFFECTED)
def test_contain_calls_each_owners_service_once_and_writes_one_audit_entry(
    people, world, calls, scope, django_capture_on_commit_callbacks
):
    before = AuditEntry.objects.count()

    with django_capture_on_commit_callbacks(execute=True):
        report = _contain(scope, people)

    ids = _ids(people, scope)
    owners_steps = (
        "sessions_end_for",
        "tokens_revoke_for",
        "jobs_stop_for",
        "share_links_down_for",
    )
    assert {name: len(calls[name]) for name in owners_steps} == {
        "sessions_end_for": 1,
        "tokens_revoke_for": 1 if scope == "revoke" else 0,  # only a revocation revokes for good
        "jobs_stop_for": 1,
        "share_links_down_for": 1,
    }
    assert sorted(calls["sessions_end_for"][0]["user_ids"]) == ids
    assert sorted(calls["jobs_stop_for"][0]["owner_ids"]) == ids
    assert sorted(calls["share_links_down_for"][0]["owner_ids"]) == ids
    if scope == "revoke":
        assert calls["tokens_revoke_for"] == [{"user_ids": ids}]
    standing_steps = {name: len(calls[name]) for name in set(STANDING_STEP.values())}
    assert standing_steps == {name: int(name == STANDING_STEP[scope]) for name in standing_steps}
    assert AuditEntry.objects.count() == before + 1
    assert AuditEntry.objects.filter(action=AUDIT_ACTION[scope]).count() == 1
    # What the owners did is what the report (and the audit entry) says.
    assert (report.testers, report.sessions_ended) == (len(ids), len(ids))
    assert report.queued_jobs_cancelled == len(ids) == report.share_links_down
    cancelled = Job.objects.filter(owner_id__in=ids, state=Job.State.CANCELLED).count()
    assert cancelled == len(ids)


@pytest.mark.parametrize("scope", AFFECTED)
def test_the_scope_is_told_at_once_and_again_after_commit_and_freed_slots_are_handed_out(
    people, world, calls, scope, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _contain(scope, people)

    # Once when the standing changed (inside the transaction), once after commit.
    early, after_commit = calls["publish"]
    group = {
        "revoke": groups.user_group(people["ada"].pk),
        "suspend": groups.user_group(people["ada"].pk),
        "cohort": groups.cohort_group(people["ada"].cohort_id),
        "pause": groups.PROGRAM,
    }[scope]
    for published in (early, after_commit):
        assert published["groups"] == [group]
        assert published["args"][0].reason == REASON
    assert len(calls["jobs_dispatch_all"]) == 1


@pytest.mark.parametrize("scope", AFFECTED)
def test_sockets_are_told_before_the_commit_but_slots_wait_for_it(people, world, calls, scope):
    _contain(scope, people)  # the test's transaction never commits

    # The sockets close without waiting for sessions, jobs and shares to be ended (a socket that
    # connects meanwhile is told again after commit); freed GPU slots are handed out only once
    # the jobs' cancellation is committed.
    [early] = calls["publish"]
    assert early["args"][0].reason == REASON
    assert calls["jobs_dispatch_all"] == []


@pytest.mark.parametrize("scope", AFFECTED)
def test_the_command_runs_the_same_steps_once(people, world, calls, scope):
    before = AuditEntry.objects.count()

    call_command("contain", *COMMAND[scope], reason=REASON, stdout=StringIO())

    ids = _ids(people, scope)
    assert [sorted(call["owner_ids"]) for call in calls["jobs_stop_for"]] == [ids]
    assert [sorted(call["user_ids"]) for call in calls["sessions_end_for"]] == [ids]
    assert [sorted(call["owner_ids"]) for call in calls["share_links_down_for"]] == [ids]
    assert len(calls[STANDING_STEP[scope]]) == 1
    assert AuditEntry.objects.count() == before + 1


@pytest.mark.parametrize("scope", AFFECTED)
def test_a_refused_containment_takes_no_step_and_writes_nothing(people, world, calls, scope):
    before = AuditEntry.objects.count()

    with pytest.raises(AccessError, match="A reason is required"):
        {
            "revoke": lambda: revoke_tester(tester=people["ada"], by=people["alan"], reason=" "),
            "suspend": lambda: suspend_tester(tester=people["ada"], by=people["alan"], reason=""),
            "cohort": lambda: cohort_suspend(
                cohort=people["ada"].cohort, by=people["alan"], reason=""
            ),
            "pause": lambda: program_pause(by=people["alan"], reason=""),
        }[scope]()

    assert all(recorded == [] for recorded in calls.values())
    assert AuditEntry.objects.count() == before
