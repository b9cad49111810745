"""The worker and the dispatcher keep their database connection from one task (or tick) to the
next, and replace one that broke (CONN_MAX_AGE with health checks; config/settings.py)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from celery.fixups.django import DjangoWorkerFixup
from django.db import close_old_connections, connection

from config.celery import app as celery_app
from generation.models import Job

pytestmark = pytest.mark.django_db(transaction=True)

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


def test_a_worker_keeps_its_connection_from_task_to_task():
    fixup = DjangoWorkerFixup(celery_app)  # what Celery runs around every task in a worker
    Job.objects.count()
    kept = connection.connection

    for _ in range(3):
        fixup.on_task_prerun(sender=TASK)
        close_old_connections()  # the task's own start (generation.tasks.run_job)
        Job.objects.count()
        fixup.on_task_postrun(sender=TASK)

    assert connection.connection is kept


def test_the_dispatcher_keeps_its_connection_between_ticks():
    Job.objects.count()
    kept = connection.connection

    close_old_connections()  # what the dispatcher does between ticks
    Job.objects.count()

    assert connection.connection is kept


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a server's connection breaks; a SQLite file's does not",
)
def test_a_kept_connection_that_broke_is_replaced_at_the_next_start():
    Job.objects.count()
    connection.connection.close()  # the server restarted, or dropped an idle connection

    close_old_connections()

    assert Job.objects.count() == 0  # checked before use, and opened again
