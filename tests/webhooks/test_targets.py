"""Where webhooks may go (`webhooks.targets`): public addresses only, checked at registration and
again at send time, unless the allow-list names the host or network."""

from __future__ import annotations

import socket

import pytest

from webhooks.models import Delivery, EventType
from webhooks.services import WebhookError, endpoint_create, event_emit

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

PUBLIC = "93.184.215.14"  # a global address (never contacted: the tests resolve names themselves)


@pytest.fixture
def dns(monkeypatch) -> dict[str, str | None]:
    """Names the test controls: DNS is outside our control, so this stands in for it (what a
    rebinding attacker's name server would answer; None: the name does not resolve). Other
    names resolve as usual."""
    answers: dict[str, str | None] = {}

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return socket.getaddrinfo(host, port, *args, **kwargs)
        if answers[host] is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family = socket.AF_INET6 if ":" in str(answers[host]) else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr("webhooks.targets.getaddrinfo", getaddrinfo)
    return answers


def register(owner, url: str):
    return endpoint_create(owner=owner, url=url, events=[EventType.JOB_SUCCEEDED])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://172.16.5.5/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://169.254.169.254/latest/meta-data/",  # link-local: cloud metadata
        "http://[fe80::1]/hook",
        "http://224.0.0.1/hook",  # multicast
        "http://240.0.0.1/hook",  # reserved
        "http://0.0.0.0/hook",
        "http://2130706433/hook",  # 127.0.0.1 written as one number
        "http://localhost/hook",  # a name that resolves to loopback
    ],
)
def test_private_and_reserved_targets_are_refused_at_registration(tester, url):
    with pytest.raises(WebhookError) as refused:
        register(tester, url)

    assert "url" in refused.value.errors


def test_a_name_resolving_to_a_private_address_is_refused(tester, dns):
    dns["intranet.example.test"] = "10.0.0.7"

    with pytest.raises(WebhookError, match=r"10\.0\.0\.7"):
        register(tester, "https://intranet.example.test/hook")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.test/hook", "https://"),
        ("https://user:pw@hooks.example.test/", "user name or password"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.test:99999/", "malformed"),
        ("not a url", "spaces"),
        ("https://hooks.example.test/a path", "spaces"),
    ],
)
def test_malformed_urls_are_refused_naming_why(tester, dns, url, why):
    dns["hooks.example.test"] = PUBLIC

    with pytest.raises(WebhookError, match=why):
        register(tester, url)


def test_a_public_name_is_accepted(tester, dns):
    dns["hooks.example.test"] = PUBLIC

    assert register(tester, "https://hooks.example.test/hook").endpoint.pk


def test_the_allow_list_admits_a_network(settings, tester):
    settings.WEBHOOK_ALLOWED_CIDRS = ["10.0.0.0/8"]

    assert register(tester, "http://10.1.2.3/hook").endpoint.pk
    with pytest.raises(WebhookError):
        register(tester, "http://192.168.0.10/hook")


def test_the_allow_list_admits_a_host_by_name(settings, tester):
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]

    assert register(tester, "http://localhost:9/hook").endpoint.pk


def test_a_name_rebound_to_loopback_after_registration_is_refused_at_send_time(
    tester, dns, receiver, sent, committed
):
    """DNS rebinding: public when registered, the receiver's loopback when sent. The request
    never leaves: the receiver (listening on that very address and port) hears nothing."""
    port = receiver.url.split(":")[2].split("/")[0]
    dns["rebind.example.test"] = PUBLIC
    register(tester, f"http://rebind.example.test:{port}/hooks")
    dns["rebind.example.test"] = "127.0.0.1"
    with committed():
        [delivery] = event_emit(owner_id=tester.id, event_type="job.succeeded", data={})

    assert sent.drain() == ["failed"]  # refused outright: no retry
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED
    assert "Refused" in delivery.attempt_log.get().error
    assert receiver.requests == []


def test_a_name_that_stops_resolving_is_retried(tester, dns, sent, committed):
    dns["gone.example.test"] = PUBLIC
    register(tester, "https://gone.example.test/hook")
    dns["gone.example.test"] = None
    with committed():
        event_emit(owner_id=tester.id, event_type="job.succeeded", data={})

    assert sent.drain(limit=1) == ["pending"]
    assert "does not resolve" in Delivery.objects.get().attempt_log.get().error
