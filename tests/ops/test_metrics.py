"""/metrics: the platform's state computed from the rows at scrape time, behind a secret or an
allow-list of networks."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from access.models import ApiToken
from access.services import audit_record, token_create
from containment.services import tester_suspend as suspend
from generation.models import Job
from provenance.models import Trace
from review import audit as review_audit
from review.models import Output
from tests.conftest import run_async, websocket
from tests.factories import make_job
from tests.ops.conftest import output_row

pytestmark = pytest.mark.django_db

OUTSIDE = "203.0.113.7"  # not in the default allow-list (loopback)


def scrape(client, **headers: str) -> dict[tuple[str, tuple], float]:
    """Every sample of one scrape, by (name, sorted labels)."""
    response = client.get(reverse("metrics"), headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def test_metrics_answer_a_scraper_with_the_secret_or_from_an_allowed_network(client, settings):
    settings.METRICS_BEARER_TOKEN = "s3cret-for-prometheus"
    url = reverse("metrics")

    assert client.get(url, REMOTE_ADDR=OUTSIDE).status_code == 403
    wrong = {"Authorization": "Bearer not-it"}
    assert client.get(url, REMOTE_ADDR=OUTSIDE, headers=wrong).status_code == 403
    right = {"Authorization": "Bearer s3cret-for-prometheus"}
    assert client.get(url, REMOTE_ADDR=OUTSIDE, headers=right).status_code == 200
    assert client.get(url).status_code == 200  # the test client comes from 127.0.0.1
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert client.get(url).status_code == 403
    assert client.get(url, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_without_a_secret_no_bearer_is_accepted(client, settings):
    settings.METRICS_BEARER_TOKEN = ""

    response = client.get(
        reverse("metrics"), REMOTE_ADDR=OUTSIDE, headers={"Authorization": "Bearer "}
    )

    assert response.status_code == 403


def _job(owner, state: str, *, ran: float = 0.0, waited: float = 0.0, gpu: float = 0.0) -> Job:
    job = make_job(owner, state=state)
    now = timezone.now()
    started = now - timedelta(seconds=ran) if state != Job.State.QUEUED else None
    Job.objects.filter(pk=job.pk).update(
        created_at=(started or now) - timedelta(seconds=waited),
        started_at=started,
        finished_at=now if state == Job.State.SUCCEEDED else None,
        heartbeat_at=now - timedelta(seconds=3) if state == Job.State.RUNNING else None,
        worker="gpu-a@host" if state == Job.State.RUNNING else "",
        gpu_seconds=gpu,
    )
    return job


def test_jobs_queues_and_gpu_seconds_come_from_the_rows(client, tester, other_tester):
    _job(tester, Job.State.SUCCEEDED, ran=3, waited=0.5, gpu=2.5)
    _job(other_tester, Job.State.SUCCEEDED, ran=45, waited=20, gpu=40)
    _job(tester, Job.State.RUNNING, ran=4, waited=2)
    _job(tester, Job.State.QUEUED, waited=90)
    _job(other_tester, Job.State.QUEUED, waited=5)

    samples = scrape(client)

    def sample(name: str, **labels: str) -> float:
        return samples[name, tuple(sorted(labels.items()))]

    assert sample("vernissage_jobs", model="demo", state="succeeded") == 2
    assert sample("vernissage_jobs", model="demo", state="queued") == 2
    assert sample("vernissage_jobs", model="demo", state="running") == 1
    assert sample("vernissage_queue_depth", model="demo") == 2
    assert 90 <= sample("vernissage_queue_oldest_wait_seconds", model="demo") < 120
    assert sample("vernissage_job_duration_seconds_bucket", model="demo", le="5.0") == 1
    assert sample("vernissage_job_duration_seconds_bucket", model="demo", le="60.0") == 2
    assert sample("vernissage_job_duration_seconds_count", model="demo") == 2
    assert sample("vernissage_job_duration_seconds_sum", model="demo") == pytest.approx(48, abs=1)
    assert sample("vernissage_job_time_to_start_seconds_bucket", model="demo", le="1.0") == 1
    assert sample("vernissage_job_time_to_start_seconds_bucket", model="demo", le="5.0") == 2
    assert sample("vernissage_job_time_to_start_seconds_count", model="demo") == 3
    assert sample("vernissage_gpu_seconds_total", cohort="Test cohort") == pytest.approx(42.5)
    assert 3 <= sample("vernissage_worker_heartbeat_age_seconds", worker="gpu-a@host") < 30


def test_review_backlog_decisions_containment_and_tokens_come_from_the_rows(
    client, tester, reviewer, admin, make_user, settings
):
    output_row(tester)
    late = output_row(tester)
    Output.objects.filter(pk=late.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.REVIEW_SLA_HOURS + 1)
    )
    for action in (review_audit.OUTPUT_APPROVED, review_audit.APPROVAL_RECORDED):
        audit_record(action=action, actor=reviewer, target=late)
    audit_record(action=review_audit.OUTPUT_REJECTED, actor=reviewer, target=late)
    suspend(tester=make_user("sue@example.com"), by=admin, reason="leak")
    token = token_create(user=tester, name="cli", scopes=["jobs:read"]).token
    ApiToken.objects.filter(pk=token.pk).update(suspended_at=timezone.now())

    samples = scrape(client)

    assert samples["vernissage_review_backlog", ()] == 2
    assert samples["vernissage_review_sla_breaches", ()] == 1
    oldest = samples["vernissage_review_oldest_pending_seconds", ()]
    assert oldest >= settings.REVIEW_SLA_HOURS * 3600
    by_rita = (("decision", "approve"), ("reviewer", reviewer.email))
    assert samples["vernissage_review_decisions_total", by_rita] == 2
    rejected = (("decision", "reject"), ("reviewer", reviewer.email))
    assert samples["vernissage_review_decisions_total", rejected] == 1
    suspended = (("action", "access.tester.suspended"),)
    assert samples["vernissage_containment_actions_total", suspended] == 1
    assert samples["vernissage_api_tokens_suspended", ()] == 1


def test_trace_runs_come_from_the_rows(client, tester):
    named = output_row(tester)
    for state, output in [("done", named), ("done", None), ("failed", None), ("running", None)]:
        Trace.objects.create(
            file_name="traces/x/suspect.mp4",
            size_bytes=1,
            sha256="0" * 64,
            state=state,
            output=output,
        )

    samples = scrape(client)

    runs = {
        labels: n for (name, labels), n in samples.items() if name == "vernissage_trace_runs_total"
    }
    assert runs == {
        (("named", "yes"), ("state", "done")): 1,
        (("named", "no"), ("state", "done")): 1,
        (("named", "no"), ("state", "failed")): 1,
        (("named", "no"), ("state", "running")): 1,
    }


def test_this_processs_requests_are_counted(client):
    before = scrape(client).get(
        ("vernissage_http_requests_total", (("method", "GET"), ("status", "2xx"))), 0
    )

    client.get(reverse("health_live"))

    after = scrape(client)[
        ("vernissage_http_requests_total", (("method", "GET"), ("status", "2xx")))
    ]
    assert after == before + 2  # the first scrape and the probe


@pytest.mark.timeout(60)
@pytest.mark.django_db(transaction=True)
def test_open_sockets_are_counted_while_they_are_open(tester):
    def open_now() -> float:
        return (
            REGISTRY.get_sample_value("vernissage_open_sockets", {"endpoint": "StudioConsumer"})
            or 0
        )

    before = open_now()

    async def scenario() -> float:
        async with websocket("/ws/studio/", tester) as communicator:
            connected, _ = await communicator.connect()
            assert connected
            await communicator.receive_json_from(timeout=10)  # the snapshot: it is live
            return open_now()

    assert run_async(scenario) == before + 1
    assert open_now() == before
    assert b"vernissage_open_sockets" in generate_latest(REGISTRY)


def _in_a_process(code: str, env: dict[str, str]) -> str:
    """Run `code` after django.setup() in a fresh Python with `env`; its stdout."""
    prelude = "import django; django.setup()\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(120)
def test_several_web_workers_are_counted_together(tmp_path):
    """scripts/serve_web.sh runs several uvicorn workers sharing PROMETHEUS_MULTIPROC_DIR: a
    scrape answered by any one of them counts the requests every one of them answered."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = "from ops.metrics import HTTP_REQUESTS\n"
    count += "HTTP_REQUESTS.labels(method='GET', status='2xx').inc({})"
    _in_a_process(count.format(3), env)  # one worker answered three requests
    _in_a_process(count.format(2), env)  # another, two

    exposition = _in_a_process(
        "from prometheus_client import generate_latest\n"
        "from ops.metrics import _web_registry\n"
        "print(generate_latest(_web_registry()).decode())",
        env,
    )

    totals = [
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "vernissage_http_requests_total"
        and sample.labels == {"method": "GET", "status": "2xx"}
    ]
    assert totals == [5.0]
