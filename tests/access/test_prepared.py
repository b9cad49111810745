"""access.prepared: a queryset compiled once gives what the queryset itself gives."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from access.models import ApiToken, Program, User
from access.prepared import PreparedQuery
from access.services import token_create
from generation.models import Job
from tests.factories import make_job

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


def _tokens(prefix):
    return (
        ApiToken.objects.select_related("user", "user__cohort")
        .annotate(program_paused=Program.paused_exists())
        .filter(prefix=prefix)
        .order_by()
    )


def test_objects_match_the_querysets_own_with_related_objects_and_annotations(tester):
    made = token_create(user=tester, name="t", scopes=["jobs:read"])
    prepared = PreparedQuery(_tokens, prefix=str)

    (token,) = prepared.objects(prefix=made.token.prefix)
    (expected,) = _tokens(made.token.prefix)

    assert token.pk == expected.pk and token.digest == expected.digest
    assert token.scopes == expected.scopes == ["jobs:read"]  # the JSON converter ran
    assert token.program_paused is expected.program_paused is False
    assert token._state.db == "default" and not token._state.adding
    with CaptureQueriesContext(connection) as queries:
        assert token.user.username == tester.username
        assert token.user.cohort.name == tester.cohort.name
    assert len(queries) == 0  # user and cohort came with the token


def test_each_call_uses_its_own_values_and_the_query_is_built_once(tester):
    first = token_create(user=tester, name="a", scopes=["jobs:read"]).token
    second = token_create(user=tester, name="b", scopes=["jobs:read"]).token
    built = []

    def build(prefix):
        built.append(prefix)
        return _tokens(prefix)

    prepared = PreparedQuery(build, prefix=str)
    assert [t.pk for t in prepared.objects(prefix=second.prefix)] == [second.pk]
    assert [t.pk for t in prepared.objects(prefix=first.prefix)] == [first.pk]
    assert prepared.objects(prefix="no-such-prefix") == []
    assert len(built) == 1


def test_a_paused_program_reads_as_paused(tester):
    made = token_create(user=tester, name="t", scopes=["jobs:read"])
    Program.objects.update_or_create(pk=1, defaults={"paused_at": datetime.now(UTC)})
    (token,) = PreparedQuery(_tokens, prefix=str).objects(prefix=made.token.prefix)
    assert token.program_paused is True


def test_rows_take_datetime_values_on_every_backend(tester):
    now = datetime.now(UTC)
    make_job(tester)
    Job.objects.filter(pk=make_job(tester, state=Job.State.SUCCEEDED).pk).update(
        gpu_seconds=4.0, finished_at=now
    )

    def totals(owner_id, since):
        return (
            Job.objects.filter(owner_id=owner_id)
            .order_by()
            .values("owner_id")
            .annotate(
                waiting=Count("pk", filter=Q(state="queued")),
                used=Sum("gpu_seconds", filter=Q(finished_at__gte=since)),
            )
            .values_list("waiting", "used")
        )

    prepared = PreparedQuery(totals, owner_id=int, since=datetime)
    assert prepared.rows(owner_id=tester.pk, since=now - timedelta(hours=1)) == [(1, 4.0)]
    assert prepared.rows(owner_id=tester.pk, since=now + timedelta(hours=1)) == [(1, None)]
    assert prepared.rows(owner_id=tester.pk + 1000, since=now) == []


def test_a_value_of_the_wrong_type_or_name_is_refused():
    prepared = PreparedQuery(_tokens, prefix=str)
    with pytest.raises(TypeError, match="prefix must be str, not int"):
        prepared.objects(prefix=5)
    with pytest.raises(TypeError, match="Expected the values"):
        prepared.objects(prefx="x")


def test_a_parameter_the_lookup_rewrites_is_refused_when_compiled():
    prepared = PreparedQuery(lambda name: User.objects.filter(username__icontains=name), name=str)
    with pytest.raises(ValueError, match="Not plain SQL parameters of the query: \\['name'\\]"):
        prepared.rows(name="x")


@pytest.mark.django_db(transaction=True)
def test_a_locking_query_refuses_to_run_outside_a_transaction(tester):
    prepared = PreparedQuery(
        lambda user_id: User.objects.select_for_update().filter(pk=user_id), user_id=int
    )
    with transaction.atomic():
        assert [u.pk for u in prepared.objects(user_id=tester.pk)] == [tester.pk]
    with pytest.raises(TransactionManagementError):
        prepared.objects(user_id=tester.pk)
