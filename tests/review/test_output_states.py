"""The output (moderation) state machine: `Output.TRANSITIONS`, its one guard
`Output.objects.transition`, the database constraint on the state column, and the docstring."""

from __future__ import annotations

import itertools

import pytest
from django.db import IntegrityError, transaction

from review.models import Output
from tests.conftest import transitions_in_docstring
from tests.factories import make_output

pytestmark = pytest.mark.django_db

STATES = list(Output.State)
FINAL_STATES = [state for state in STATES if state not in Output.TRANSITIONS]


@pytest.mark.parametrize(("source", "target"), list(itertools.product(STATES, STATES)))
def test_every_move_through_the_guard_follows_the_transition_table(
    tester, outputs_dir, source, target
):
    output = make_output(tester, state=source)

    moved = Output.objects.filter(pk=output.pk).transition(target, decision_note="moved")

    allowed = target in Output.TRANSITIONS.get(source, frozenset())
    output.refresh_from_db()
    assert moved == (1 if allowed else 0)
    assert (output.state, output.decision_note) == ((target, "moved") if allowed else (source, ""))


@pytest.mark.parametrize("final", FINAL_STATES)
def test_a_final_output_never_moves_again(tester, outputs_dir, final):
    output = make_output(tester, state=final)

    moved = sum(Output.objects.filter(pk=output.pk).transition(target) for target in STATES)

    assert moved == 0
    assert Output.objects.get(pk=output.pk).state == final


def test_a_withdrawn_approval_cannot_be_approved_again(tester, outputs_dir):
    output = make_output(tester, state=Output.State.APPROVED)
    assert Output.objects.filter(pk=output.pk).transition(Output.State.WITHDRAWN) == 1

    assert Output.objects.filter(pk=output.pk).transition(Output.State.APPROVED) == 0
    assert Output.objects.filter(pk=output.pk).transition(Output.State.PENDING) == 0
    assert Output.objects.get(pk=output.pk).state == Output.State.WITHDRAWN


def test_the_guard_refuses_a_state_no_output_may_become(tester, outputs_dir):
    output = make_output(tester)

    with pytest.raises(ValueError, match="No output may become 'bogus'"):
        Output.objects.filter(pk=output.pk).transition("bogus")

    assert Output.objects.get(pk=output.pk).state == Output.State.PENDING


def test_the_database_refuses_a_bogus_state(tester, outputs_dir):
    output = make_output(tester)

    with pytest.raises(IntegrityError), transaction.atomic():
        Output.objects.filter(pk=output.pk).update(state="bogus")

    assert Output.objects.get(pk=output.pk).state == Output.State.PENDING


def test_the_database_refuses_a_new_output_in_a_bogus_state(tester, outputs_dir):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_output(tester, state="bogus")

    assert not Output.objects.exists()


def test_the_docstring_lists_every_transition_and_final_state():
    transitions, finals = transitions_in_docstring(Output)

    assert transitions == {source: set(targets) for source, targets in Output.TRANSITIONS.items()}
    assert finals == set(FINAL_STATES)
