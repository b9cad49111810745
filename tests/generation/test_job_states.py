"""The job state machine: `Job.TRANSITIONS`, its one guard `Job.objects.transition`, the database
constraint on the state column, and the docstring that describes them."""

from __future__ import annotations

import itertools

import pytest
from django.db import IntegrityError, transaction

from generation.models import Job
from tests.conftest import transitions_in_docstring
from tests.factories import make_job

pytestmark = pytest.mark.django_db

STATES = list(Job.State)


@pytest.mark.parametrize(("source", "target"), list(itertools.product(STATES, STATES)))
def test_every_move_through_the_guard_follows_the_transition_table(tester, source, target):
    job = make_job(tester, state=source)

    moved = Job.objects.filter(pk=job.pk).transition(target, error="moved")

    allowed = target in Job.TRANSITIONS.get(source, frozenset())
    job.refresh_from_db()
    assert moved == (1 if allowed else 0)
    assert (job.state, job.error) == ((target, "moved") if allowed else (source, ""))


@pytest.mark.parametrize("final", Job.FINAL_STATES)
def test_a_final_job_never_moves_again(tester, final):
    job = make_job(tester, state=final)

    moved = sum(Job.objects.filter(pk=job.pk).transition(target) for target in STATES)

    assert moved == 0
    assert final not in Job.TRANSITIONS
    assert Job.objects.get(pk=job.pk).state == final


def test_a_cancelled_job_cannot_be_started_again(tester):
    job = make_job(tester)
    assert Job.objects.filter(pk=job.pk).transition(Job.State.CANCELLED) == 1

    assert Job.objects.filter(pk=job.pk).transition(Job.State.RUNNING) == 0
    assert Job.objects.get(pk=job.pk).state == Job.State.CANCELLED


def test_the_guard_moves_only_the_rows_that_may_move(tester):
    jobs = {state: make_job(tester, state=state) for state in STATES}

    moved = Job.objects.filter(owner=tester).transition(Job.State.CANCELLED)

    states = dict(Job.objects.values_list("id", "state"))
    assert moved == len(Job.sources_of(Job.State.CANCELLED)) == 2
    for state, job in jobs.items():
        may = state in Job.sources_of(Job.State.CANCELLED)
        assert states[job.id] == (Job.State.CANCELLED if may else state)


def test_the_guard_refuses_a_state_no_job_may_become(tester):
    job = make_job(tester)

    with pytest.raises(ValueError, match="No job may become 'bogus'"):
        Job.objects.filter(pk=job.pk).transition("bogus")

    assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED


def test_the_database_refuses_a_bogus_state(tester):
    job = make_job(tester)

    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.filter(pk=job.pk).update(state="bogus")

    assert Job.objects.get(pk=job.pk).state == Job.State.QUEUED


def test_the_database_refuses_a_new_job_in_a_bogus_state(tester):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_job(tester, state="bogus")

    assert not Job.objects.exists()


def test_the_docstring_lists_every_transition_and_final_state():
    transitions, finals = transitions_in_docstring(Job)

    assert transitions == {source: set(targets) for source, targets in Job.TRANSITIONS.items()}
    assert finals == set(Job.FINAL_STATES)


def test_every_state_either_moves_on_or_is_final():
    assert set(Job.TRANSITIONS) | set(Job.FINAL_STATES) == set(STATES)
    assert not set(Job.TRANSITIONS) & set(Job.FINAL_STATES)
