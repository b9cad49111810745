"""Prometheus metrics of the web process: the platform's state, read from the database at scrape
time, plus this process's own HTTP counters.

Why from the database: jobs, reviews and containment happen in several processes (web, worker,
dispatcher); counters kept in each would be lost at every restart and disagree between replicas.
The rows already hold the truth, so the collector turns them into metrics when Prometheus asks.
Workers export what only they know (task timings) from their own port: `ops.worker_metrics`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from generation.heartbeat import dispatcher_last_beat
from ops import selectors

# Seconds: a tiny demo job takes about one; a real model's tens to hundreds.
DURATION_BUCKETS = (1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# Seconds from submission to start: free slots start at once; a busy queue waits minutes.
WAIT_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _histogram(
    name: str, documentation: str, found: dict[str, selectors.Histogram]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=["model"])
    for model, histogram in sorted(found.items()):
        buckets = [(floatToGoString(bound), float(n)) for bound, n in histogram.buckets]
        buckets.append(("+Inf", float(histogram.count)))
        family.add_metric([model], buckets, sum_value=histogram.total)
    return family


class DatabaseCollector(Collector):
    """Every platform metric, computed from the rows at each scrape (about a dozen queries)."""

    def collect(self) -> Iterator[Metric]:
        yield from self._jobs()
        yield from self._workers()
        yield from self._review()
        yield from self._access()

    def _jobs(self) -> Iterator[Metric]:
        now = timezone.now()
        jobs = GaugeMetricFamily(
            "vernissage_jobs", "Jobs in each state, per model.", labels=["model", "state"]
        )
        for model, state, n in selectors.jobs_by_model_and_state():
            jobs.add_metric([model, state], n)
        yield jobs
        depth = GaugeMetricFamily(
            "vernissage_queue_depth", "Jobs waiting for a GPU, per model.", labels=["model"]
        )
        oldest = GaugeMetricFamily(
            "vernissage_queue_oldest_wait_seconds",
            "How long the oldest waiting job has waited, per model.",
            labels=["model"],
        )
        for model, n, since in selectors.queue_by_model():
            depth.add_metric([model], n)
            oldest.add_metric([model], (now - since).total_seconds())
        yield depth
        yield oldest
        yield _histogram(
            "vernissage_job_duration_seconds",
            "Run time of succeeded jobs (last attempt: claim to success), per model.",
            selectors.job_duration_histograms(DURATION_BUCKETS),
        )
        yield _histogram(
            "vernissage_job_time_to_start_seconds",
            "Time from submission to the start of the (last) run, per model.",
            selectors.time_to_start_histograms(WAIT_BUCKETS),
        )
        gpu = CounterMetricFamily(
            "vernissage_gpu_seconds",
            "Measured render time of succeeded jobs, per cohort of their owner.",
            labels=["cohort"],
        )
        for cohort, total in selectors.gpu_seconds_by_cohort():
            gpu.add_metric([cohort], total)
        yield gpu

    def _workers(self) -> Iterator[Metric]:
        now = timezone.now()
        beats = GaugeMetricFamily(
            "vernissage_worker_heartbeat_age_seconds",
            "Age of the freshest heartbeat of each worker's running jobs (a stalled worker ages).",
            labels=["worker"],
        )
        for worker, latest in selectors.running_heartbeats():
            beats.add_metric([worker], (now - latest).total_seconds())
        yield beats
        last = dispatcher_last_beat()
        dispatcher = GaugeMetricFamily(
            "vernissage_dispatcher_heartbeat_age_seconds",
            "Seconds since a dispatcher last ticked (absent: none beat within a day).",
        )
        if last is not None:
            dispatcher.add_metric([], max(0.0, time.time() - last))
        yield dispatcher

    def _review(self) -> Iterator[Metric]:
        now = timezone.now()
        backlog = selectors.review_backlog(now)
        yield GaugeMetricFamily(
            "vernissage_review_backlog", "Outputs awaiting review.", value=backlog.pending
        )
        yield GaugeMetricFamily(
            "vernissage_review_oldest_pending_seconds",
            "Age of the oldest output awaiting review (0: none).",
            value=(now - backlog.oldest).total_seconds() if backlog.oldest else 0.0,
        )
        yield GaugeMetricFamily(
            "vernissage_review_sla_breaches",
            "Outputs awaiting review for longer than VERNISSAGE_REVIEW_SLA_HOURS.",
            value=backlog.over_sla,
        )
        decisions = CounterMetricFamily(
            "vernissage_review_decisions",
            "Review decisions, per reviewer and decision.",
            labels=["reviewer", "decision"],
        )
        for reviewer, decision, n in selectors.decisions_by_reviewer():
            decisions.add_metric([reviewer, decision], n)
        yield decisions

    def _access(self) -> Iterator[Metric]:
        actions = CounterMetricFamily(
            "vernissage_containment_actions",
            "Containment actions taken (suspend, revoke, reinstate, pause, resume), per action.",
            labels=["action"],
        )
        for action, n in selectors.containment_actions():
            actions.add_metric([action], n)
        yield actions
        yield GaugeMetricFamily(
            "vernissage_api_tokens_suspended",
            "API tokens suspended for shared use and not revoked.",
            value=selectors.suspended_tokens(),
        )
        traces = CounterMetricFamily(
            "vernissage_trace_runs",
            "Leak traces run, by state (queued, running, done, failed) and whether they named an "
            "output.",
            labels=["state", "named"],
        )
        for state, named, n in selectors.trace_runs():
            traces.add_metric([state, named], n)
        yield traces


# HTTP traffic. Under scripts/serve_web.sh (several uvicorn workers) prometheus-client keeps it
# in PROMETHEUS_MULTIPROC_DIR and /metrics sums every worker's; a single process (tests, a bare
# uvicorn) keeps it in the default registry next to its process_* and python_* metrics.
HTTP_REQUESTS = Counter(
    "vernissage_http_requests",
    "HTTP requests answered by this web process, by method and status class (2xx, 4xx, ...).",
    ["method", "status"],
)
HTTP_LATENCY = Histogram(
    "vernissage_http_request_duration_seconds", "Time to answer HTTP requests in this process."
)


def render() -> bytes:
    """The whole exposition: the platform's metrics and this process's."""
    platform = CollectorRegistry(auto_describe=False)
    platform.register(DatabaseCollector())
    return generate_latest(platform) + generate_latest(_web_registry())


def _web_registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    workers = CollectorRegistry()
    MultiProcessCollector(workers)
    return workers
