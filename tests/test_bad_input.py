"""No bad input reaches a 500, a refused request stores nothing, and a wrong method is a 405.

Nothing here names an endpoint. The endpoints come from the URLconf (`get_resolver()`, walked
recursively), so a new one is covered without editing this file:

- Path parameters are filled with a real object's id of the right type (from links and form
  actions on the pages, else a row of the model the parameter is named after) and with bogus ones.
- The fields each endpoint reads are found two ways: the forms on every page (names and the values
  a browser would send: hidden inputs, options, buttons), and the keys the view actually reads from
  `request.GET`/`request.POST`/`request.data` while it handles a probe (recorded on `QueryDict`);
  API views add their `serializer_class`'s fields.
- Every endpoint x GET/POST/PUT/PATCH/DELETE x persona (anonymous, tester, reviewer and admin,
  both staff with TOTP) then gets the corpus below: each bad value in each field it reads, with
  the other fields holding good values (so a bad note reaches the code that stores notes), as
  query parameters, form fields and JSON bodies; whole bodies of the wrong JSON type, nested 2,000
  deep, or not JSON at all; bad path parameters. Where the persona is refused anyway (login,
  403, 405) a rotating sample is sent instead; every bad-value class still reaches every endpoint.

Each request runs in a savepoint that is rolled back, so every request meets the same rows and
none depends on another's leftovers. Asserted for every request: no 5xx; a 4xx left every table
as it was; a success stored no control character, lone surrogate or megabyte string; a method the
endpoint does not declare (its `Allow` header) is answered 405. Failures are collected and
reported together, each with its endpoint, method, persona, field, value class and transport.

Skipped, on purpose: the Django admin (Django's own, its forms are model forms with Django's
validators, our admin actions take no free text, and its ~80 URLs would need an object of every
model: more than this whole test's time budget) and allauth's views (allauth's own, tested
upstream, and rate limited, so bad input is soon a 429), except `account_signup`, which runs our
InvitationSignupForm and adapter.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from itertools import count, cycle
from typing import Any
from unittest import mock
from urllib.parse import quote_from_bytes, urlsplit

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.http import QueryDict
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RoutePattern
from django.utils.datastructures import MultiValueDict

from access.models import AuditEntry, User
from access.roles import ADMINS, role_grant
from access.services import invitation_create, terms_accept, terms_publish, token_create
from fairness.services import appeal_file, legal_hold_place, use_request_create
from generation.models import Job
from provenance.models import Trace
from review.media import download_sign
from review.models import Finding, Output, ShareLink
from review.services import feedback_submit, finding_file, share_link_create
from tests.conftest import totp_enable
from tests.factories import make_job, make_output
from webhooks import models as webhooks_models
from webhooks.signing import secret_generate, secret_seal

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(280)]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
SKIPPED_PREFIXES = ("admin/",)
THIRD_PARTY_KEPT = {"account_signup"}  # allauth's view, our form and adapter
IGNORED_FIELDS = {"csrfmiddlewaretoken"}
PROBES = 4  # per endpoint, method and persona that is not turned away
# The readiness probe answers 503 by design when a service is not ready (no worker or dispatcher
# runs in this test): that answer, and only that one (its JSON report of checks), is no error.
READINESS = "health_ready"
MEGABYTE = 1_000_000


# --- the corpus -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    name: str
    value: Any  # a str goes anywhere; anything else only into JSON


TEXT = [
    Bad("NUL byte", "before\x00after"),
    Bad("control characters", "a\x01b\x1b[31mc\x7fd\x9be"),
    Bad("huge string (1 MB)", "A" * MEGABYTE),
    Bad("RTL override", "\u202eevil.exe"),
    Bad("lone surrogate", "x\ud800y"),
    Bad("emoji", "\U0001f469\u200d\U0001f469\u200d\U0001f467 \U0001f3ac"),
    Bad("number beyond bigint", "99999999999999999999999"),
    Bad("negative number", "-1"),
    Bad("superscript two", "\u00b2"),
    Bad("invalid UUID", "12345678-zzzz-not-a-uuid"),
]
JSON_VALUES = [
    Bad("JSON null", None),
    Bad("JSON number beyond bigint", 99999999999999999999999),
    Bad("JSON negative number", -1),
    Bad("JSON list", [1]),
    Bad("JSON object", {"a": 1}),
    Bad("JSON bool", True),
]
BODIES = [
    Bad("body: JSON null", b"null"),
    Bad("body: JSON number", b"123"),
    Bad("body: JSON list", b"[1]"),
    Bad("body: JSON object", b"{}"),
    Bad("body: JSON bool", b"true"),
    Bad("body: JSON nested 2,000 deep", b"[" * 2000 + b"]" * 2000),
    Bad("body: not JSON", b"{'this': is not JSON,,"),
]


def _encode(text: str) -> str:
    """Percent-encode any str, lone surrogates included (as the bytes a broken client sends)."""
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")


def _urlencoded(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in pairs)


def _as_json(value: str) -> Any:
    """A form value as the JSON a client would send for it: numbers as numbers."""
    if re.fullmatch(r"-?\d{1,15}", value):
        return int(value)
    if re.fullmatch(r"-?\d{1,15}\.\d{1,15}", value):
        return float(value)
    return value


# --- endpoints from the URLconf -------------------------------------------------------------------

PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")


@dataclass
class Endpoint:
    route: str
    name: str | None
    callback: Callable[..., Any]
    converters: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return [m["name"] for m in PARAM.finditer(self.route)]

    @property
    def is_api(self) -> bool:
        return hasattr(getattr(self.callback, "cls", None), "initial")

    @property
    def serializer_fields(self) -> set[str]:
        """The fields of an API view's `serializer_class` (what its POST body may hold)."""
        serializer = getattr(getattr(self.callback, "cls", None), "serializer_class", None)
        return set(serializer().fields) if serializer else set()

    @property
    def third_party(self) -> bool:
        return self.callback.__module__.startswith("allauth.")

    def url(self, values: dict[str, str]) -> str:
        return "/" + PARAM.sub(lambda m: values[m["name"]], self.route)

    def __str__(self) -> str:
        return f"/{self.route}"


def discover() -> list[Endpoint]:
    found: list[Endpoint] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith(SKIPPED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
                continue
            assert isinstance(pattern, URLPattern)
            if pattern.callback.__module__.startswith("allauth.") and (
                pattern.name not in THIRD_PARTY_KEPT
            ):
                continue
            assert isinstance(pattern.pattern, RoutePattern), f"{route}: use path(), not re_path()"
            found.append(
                Endpoint(route, pattern.name, pattern.callback, pattern.pattern.converters)
            )

    walk(get_resolver().url_patterns, "")
    return found


# --- the world: personas and one object of each kind ----------------------------------------------


@pytest.fixture
def world(db, tester, other_tester, reviewer, outputs_dir) -> dict[str, Any]:
    admin = User.objects.create_user(
        username="alan@vernissage.local", email="alan@vernissage.local", password="x-Strong-9"
    )
    role_grant(user=admin, role=ADMINS)
    totp_enable(admin)
    terms = terms_publish(title="Alpha terms", body="Keep it to yourself.", by=admin)
    terms_accept(user=tester, terms=terms)
    make_job(tester)
    pending = make_output(tester)
    approved = make_output(tester, state=Output.State.APPROVED)
    link = share_link_create(output=approved, by=tester)
    finding_file(
        output=pending,
        by=reviewer,
        category=Finding.Category.choices[0][0],
        severity="low",
        description="looks like a real person",
    )
    feedback_submit(output=approved, by=tester, rating=3, notes="hands melt")
    use_request_create(output=approved, purpose="showcase", message="For the site?", by=admin)
    legal_hold_place(tester=other_tester, by=admin, reason="an investigation")
    appeal_file(
        output=make_output(tester, state=Output.State.REJECTED), by=tester, note="look again"
    )
    token_create(user=tester, name="cli", scopes=["jobs:read", "jobs:write"])
    invitation = invitation_create(
        email="new@example.com", invited_by=admin, cohort=tester.cohort, send=False
    )
    Trace.objects.create(
        file_name="traces/x/suspect.mp4", size_bytes=1, sha256="0" * 64, state=Trace.State.DONE
    )
    _webhook_endpoint_with_a_delivery(tester)
    assert pending.id and other_tester.pk and ShareLink.objects.exists()
    return {
        "personas": {"anonymous": None, "tester": tester, "reviewer": reviewer, "admin": admin},
        # Path values no page links to (invitation codes are only ever mailed; a signed download
        # link is only ever in an API answer).
        "known": {
            "code": invitation.code,
            "token": link.token,
            "signed": download_sign(output=approved, user=tester, file="video", token=None).signed,
        },
    }


def _webhook_endpoint_with_a_delivery(owner: User) -> None:
    """Stored as is (registering one would resolve its host name): a finished delivery to replay."""
    endpoint = webhooks_models.Endpoint.objects.create(
        owner=owner,
        url="https://hooks.example.test/",
        events=["job.failed"],
        secret_encrypted=secret_seal(secret_generate()),
    )
    webhooks_models.Delivery.objects.create(
        endpoint=endpoint, message_id="msg_1", event_type="job.failed", body="{}", state="failed"
    )


class Persona:
    """A signed-in client whose session cookie is put back after every request."""

    def __init__(self, name: str, user: User | None) -> None:
        self.name = name
        self.client = Client(raise_request_exception=False)
        if user is not None:
            self.client.force_login(user)
        self.cookies = self.client.cookies.output(header="", sep="\n")

    def send(self, method: str, url: str, *, body: bytes, content_type: str, accept: str) -> Any:
        try:
            response = self.client.generic(
                method,
                url,
                body,
                content_type=content_type or "application/octet-stream",
                headers={"accept": accept},
            )
        finally:
            self.client.cookies = SimpleCookie(self.cookies)
        if response.streaming:  # a CSV export runs its query while it streams: read it all
            try:
                b"".join(response.streaming_content)
            except Exception as exc:  # too late for a 500: the browser gets a broken download
                response.status_code, response.exc_info = 500, (type(exc), exc, None)
        return response


# --- what the pages say: links, forms and the values a browser would send -------------------------


@dataclass
class Harvest:
    fields: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    values: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    path_values: dict[str, dict[str, list[str]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    optional: set[str] = field(default_factory=set)  # buttons, boxes: sent only when clicked

    def value(self, name: str, index: int) -> str:
        values = [v for v in self.values.get(name, []) if v] or ["plain words"]
        return values[index % len(values)]

    def add_value(self, name: str, value: str | None) -> None:
        if value is not None and value not in self.values[name]:
            self.values[name].append(value)


class _PageParser(HTMLParser):
    def __init__(self, page: str, harvest: Harvest, endpoints: dict[str, Endpoint]) -> None:
        super().__init__(convert_charrefs=True)
        self.page, self.harvest, self.endpoints = page, harvest, endpoints
        self.form: tuple[str, str] | None = None  # (route, method) of the open form
        self.text_for: str | None = None  # a <textarea> or value-less <option>'s field
        self.select: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {key: value or "" for key, value in attrs}
        name = attr.get("name", "")
        if tag == "a" and attr.get("href"):
            _locate(attr["href"], self.harvest, self.endpoints)
        elif tag == "form":
            route = _locate(attr.get("action") or self.page, self.harvest, self.endpoints)
            self.form = (route, attr.get("method", "get").upper()) if route else None
        elif tag in ("input", "button") and name:
            self._field(name, attr.get("value", ""))
            if tag == "button" or attr.get("type") in ("checkbox", "radio", "submit"):
                self.harvest.optional.add(name)
        elif tag == "select" and name:
            self.select = name
            self._field(name, None)
        elif tag == "option" and self.select:
            if "value" in attr:
                self.harvest.add_value(self.select, attr["value"])
            else:
                self.text_for, self.text = self.select, ""
        elif tag == "textarea" and name:
            self._field(name, None)
            self.text_for, self.text = name, ""

    def handle_data(self, data: str) -> None:
        if self.text_for:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag in ("option", "textarea") and self.text_for:
            self.harvest.add_value(self.text_for, self.text.strip())
            self.text_for = None
        elif tag == "select":
            self.select = None
        elif tag == "form":
            self.form = None

    def _field(self, name: str, value: str | None) -> None:
        if name in IGNORED_FIELDS:
            return
        self.harvest.add_value(name, value)
        if self.form is not None:
            self.harvest.fields[self.form].add(name)


def _locate(href: str, harvest: Harvest, endpoints: dict[str, Endpoint]) -> str | None:
    """The route a same-site URL resolves to (remembering its path values), or None."""
    path = urlsplit(href).path
    if not path.startswith("/"):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    if match.route not in endpoints:
        return None
    for key, value in match.kwargs.items():
        if str(value) not in harvest.path_values[match.route][key]:
            harvest.path_values[match.route][key].append(str(value))
    return match.route


def _model_row_id(param: str, converter: Any) -> str | None:
    """A real id for `<x_id>`: a row of our model whose name ends with x (job_id: Job,
    token_id: ApiToken, link_id: ShareLink), if the id's type matches the converter's."""
    stem = param.removesuffix("_id").replace("_", "")
    for model in apps.get_models():
        if model._meta.app_label in (
            "access",
            "generation",
            "review",
            "fairness",
            "provenance",
            "webhooks",
        ) and (model.__name__.lower().endswith(stem)):
            row = model.objects.order_by("pk").values_list("pk", flat=True).first()
            if row is not None and re.fullmatch(converter.regex, str(row)):
                return str(row)
    return None


def path_values(
    endpoint: Endpoint, harvest: Harvest, known: dict[str, str], index: int = 0
) -> dict[str, str] | None:
    """Real values for the endpoint's path parameters (rotating through those the pages show),
    or None while there is none yet."""
    values = {}
    for param in endpoint.params:
        candidates = harvest.path_values[endpoint.route].get(param) or [
            known.get(param) or _model_row_id(param, endpoint.converters[param])
        ]
        if candidates[0] is None:
            return None
        values[param] = candidates[index % len(candidates)]
    return values


# Ids of the right type that name nothing (the int is also past bigint).
BOGUS_IDS = {"IntConverter": "99999999999999999999", "UUIDConverter": str(uuid.uuid4())}


# --- which keys a view reads ----------------------------------------------------------------------


@contextmanager
def reads_recorded() -> Iterator[set[str]]:
    """Record every key looked up in a QueryDict (request.GET, request.POST, DRF's form data)."""
    keys: set[str] = set()

    def recording(original: Callable[..., Any]) -> Callable[..., Any]:
        def read(self: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(self, QueryDict) and isinstance(key, str):
                keys.add(key)
            return original(self, key, *args, **kwargs)

        return read

    with (
        mock.patch.object(MultiValueDict, "get", recording(MultiValueDict.get)),
        mock.patch.object(MultiValueDict, "getlist", recording(MultiValueDict.getlist)),
        mock.patch.object(MultiValueDict, "__getitem__", recording(MultiValueDict.__getitem__)),
        mock.patch.object(QueryDict, "__contains__", recording(dict.__contains__), create=True),
    ):
        yield keys


# --- what a request may leave behind --------------------------------------------------------------

# Rows every request may touch whatever its input: its own session, allauth's session record.
VOLATILE = {"sessions.session", "usersessions.usersession"}


def _tracked_models() -> list[Any]:
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.label_lower not in VOLATILE and not model._meta.proxy
    ]


def write_count(tables: set[str]) -> int | None:
    """A counter that grows with every row written in this transaction (rolled back or not), so
    an unchanged count proves a request wrote nothing; None where the database keeps none.

    PostgreSQL counts per table (so writes to the volatile tables do not count); SQLite counts
    per connection, which only makes the full comparison run more often.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
            )
            return sum(n for table, n in cursor.fetchall() if table in tables)
        if connection.vendor == "sqlite":
            cursor.execute("SELECT total_changes()")
            return cursor.fetchone()[0]
    return None


def snapshot(models: list[Any]) -> dict[str, list[tuple[Any, ...]]]:
    return {model._meta.label: list(model.objects.order_by("pk").values_list()) for model in models}


def _changed_rows(before: dict[str, list], after: dict[str, list]) -> dict[str, list]:
    return {
        table: [row for row in rows if row not in before[table]]
        for table, rows in after.items()
        if rows != before[table]
    }


def _stored_badly(rows: dict[str, list]) -> str | None:
    """A control character, lone surrogate or megabyte string anywhere in the changed rows."""
    for table, table_rows in rows.items():
        for row in table_rows:
            for text in _strings(row):
                if len(text) >= MEGABYTE // 2:
                    return f"{table} stored a {len(text)}-character string"
                bad = [
                    f"U+{ord(c):04X}"
                    for c in text
                    if c not in "\n\r\t" and unicodedata.category(c) in ("Cc", "Cs")
                ]
                if bad:
                    return f"{table} stored {', '.join(sorted(set(bad)))} in {text[:60]!r}"
    return None


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.items():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Case:
    bad: Bad
    transport: str  # query, form, json, body or path
    field: str = ""
    base: dict[str, str] | None = None  # good values that made the view write, if any


def _sample_corpus() -> Iterator[Case]:
    return cycle(
        [Case(bad, "query", "q") for bad in TEXT]
        + [Case(bad, "json", "q") for bad in JSON_VALUES]
        + [Case(bad, "body") for bad in BODIES]
    )


def _refused_before_reading(response: Any) -> bool:
    """Turned away whatever the input: signed out, forbidden, hidden, or the wrong method."""
    if response.status_code in (401, 403, 404, 405):
        return True
    return 300 <= response.status_code < 400 and "/accounts/" in response.get("Location", "")


@dataclass
class Run:
    endpoints: list[Endpoint]
    personas: list[Persona]
    known: dict[str, str]
    models: list[Any] = field(default_factory=_tracked_models)
    tables: set[str] = field(default_factory=set)
    harvest: Harvest = field(default_factory=Harvest)
    failures: dict[str, None] = field(default_factory=dict)  # an ordered set
    classes_hit: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    reached: set[str] = field(default_factory=set)  # endpoints some persona got past the gates of
    baseline: dict[str, list] = field(default_factory=dict)
    requests: int = 0
    wrote: bool = False  # did the last request change a row (before its rollback)?
    sample: Iterator[Case] = field(default_factory=_sample_corpus)
    corpus: Callable[..., list[Case]] = field(default=lambda *args: _corpus(*args))
    index: Iterator[int] = field(default_factory=count)

    def fail(self, message: str) -> None:
        self.failures[message] = None

    # --- one request ---------------------------------------------------------------------------

    def send(
        self,
        persona: Persona,
        method: str,
        url: str,
        *,
        body: bytes = b"",
        content_type: str = "",
        accept: str = "text/html",
    ) -> tuple[Any, str | None]:
        """One request in a savepoint that is rolled back; (response, what it left behind)."""
        self.requests += 1
        with transaction.atomic():
            writes = write_count(self.tables)
            response = persona.send(
                method, url, body=body, content_type=content_type, accept=accept
            )
            problem = None if response.status_code >= 500 else self._leftovers(response, writes)
            transaction.set_rollback(True)
        return response, problem

    def _leftovers(self, response: Any, writes_before: int | None) -> str | None:
        self.wrote = False
        try:
            if writes_before is not None and write_count(self.tables) == writes_before:
                return None  # nothing written at all: no need to compare every table
            changed = _changed_rows(self.baseline, snapshot(self.models))
        except DatabaseError as exc:  # the request left the transaction broken
            return f"left the database transaction broken: {exc}"
        self.wrote = bool(changed)
        if not changed:
            return None
        if 400 <= response.status_code < 500:
            return f"refused, yet changed {sorted(changed)}"
        return _stored_badly(changed)

    def request(
        self,
        persona: Persona,
        method: str,
        url: str,
        data: list[tuple[str, Any]],
        transport: str,
        accept: str = "text/html",
    ) -> tuple[Any, str | None]:
        if transport == "json":
            body = json.dumps(dict(data)).encode()
            return self.send(
                persona, method, url, body=body, content_type="application/json", accept=accept
            )
        encoded = _urlencoded([(key, value) for key, value in data if isinstance(value, str)])
        if transport == "query":
            return self.send(persona, method, f"{url}?{encoded}" if encoded else url, accept=accept)
        return self.send(
            persona,
            method,
            url,
            body=encoded.encode(),
            content_type="application/x-www-form-urlencoded",
            accept=accept,
        )

    # --- discovery -----------------------------------------------------------------------------

    def crawl(self) -> None:
        """GET every page as every persona, twice: links found on the first pass fill the path
        parameters of the second."""
        by_route = {endpoint.route: endpoint for endpoint in self.endpoints}
        for _ in range(2):
            for endpoint in self.endpoints:
                values = path_values(endpoint, self.harvest, self.known)
                if values is None:
                    continue
                url = endpoint.url(values)
                for persona in self.personas:
                    response, _ = self.send(persona, "GET", url)
                    if response.get("Content-Type", "").startswith("text/html"):
                        _PageParser(url, self.harvest, by_route).feed(response.content.decode())

    def allowed(self, endpoint: Endpoint, url: str) -> set[str]:
        """The methods the endpoint declares: its Allow header (405 or OPTIONS' own answer), as
        the first persona, from the admin down, that gets one."""
        for persona in reversed(self.personas):
            response, _ = self.send(persona, "OPTIONS", url, accept=_accept(endpoint, 1))
            if allow := response.get("Allow"):
                return {method.strip().upper() for method in allow.split(",")}
        if not endpoint.third_party:  # allauth's views answer OPTIONS as they like
            self.fail(f"OPTIONS {endpoint}: no Allow header ({response.status_code}); name them")
        return set(METHODS)

    def probe(
        self, endpoint: Endpoint, url: str, method: str, persona: Persona
    ) -> tuple[Any, set[str], list[dict[str, str]]]:
        """The keys the view reads: first with the page's own form fields, then with every key it
        read filled in, in turn with each value the pages offer (a rejection's reason is read only
        once the decision is to reject); and the values with which it wrote."""
        names = set(self.harvest.fields.get((endpoint.route, method), set()))
        if method != "GET":
            names |= endpoint.serializer_fields
        transport = "query" if method == "GET" else "form"
        responses: list[Any] = []
        bases = []  # the good values with which the view wrote: it went all the way
        for turn in range(PROBES):
            data = [(name, self.harvest.value(name, turn)) for name in sorted(names)]
            with reads_recorded() as keys:
                response, _ = self.request(
                    persona, method, url, data, transport, _accept(endpoint, 1)
                )
            responses.append(response)
            if self.wrote and response.status_code < 400:
                bases.append(dict(data))
            if _refused_before_reading(responses[0]):
                break
            names |= keys - IGNORED_FIELDS
        return responses[0], names, bases

    # --- the attack ----------------------------------------------------------------------------

    def attack(self, endpoint: Endpoint) -> None:
        values = path_values(endpoint, self.harvest, self.known)
        assert values is not None, f"{endpoint}: no real value for its path parameters"
        allowed = self.allowed(endpoint, endpoint.url(values))
        for method in METHODS:
            first = True
            for persona in self.personas:
                probed, names, bases = self.probe(endpoint, endpoint.url(values), method, persona)
                if method not in allowed:
                    self._check_method(endpoint, method, persona, probed.status_code)
                if method in allowed and not _refused_before_reading(probed):
                    self.reached.add(str(endpoint))
                    cases = self.corpus(endpoint, method, sorted(names) or ["q"], bases)
                    # The first persona the view reads for gets all of it; the others, whose
                    # requests take the same parsing path, every third case.
                    cases = cases if first else cases[next(self.index) % 3 :: 3]
                    first = False
                else:
                    cases = [next(self.sample)]  # turned away before reading: a sample
                for case in cases:
                    self._one(endpoint, method, persona, case, names)

    def _check_method(self, endpoint: Endpoint, method: str, persona: Persona, status: int) -> None:
        if status == 405 or (endpoint.third_party and 300 <= status < 400):
            return
        self.fail(f"{method} {endpoint} as {persona.name}: {status}, not 405 (not in its Allow)")

    def _one(
        self,
        endpoint: Endpoint,
        method: str,
        persona: Persona,
        case: Case,
        names: set[str],
    ) -> None:
        index = next(self.index)
        values = path_values(endpoint, self.harvest, self.known, 0 if case.base else index)
        assert values is not None
        accept = _accept(endpoint, index)
        if case.transport == "path":
            url = endpoint.url({**values, case.field: _path_value(endpoint, case)})
            response, problem = self.send(persona, method, url, accept=accept)
        elif case.transport == "body":
            response, problem = self.send(
                persona,
                method,
                endpoint.url(values),
                body=case.bad.value,
                content_type="application/json",
                accept=accept,
            )
        else:
            data = self._data(names | {case.field}, case, index)
            response, problem = self.request(
                persona, method, endpoint.url(values), data, case.transport, accept
            )
        self.classes_hit[str(endpoint)].add(case.bad.name)
        where = (
            f"{method} {endpoint} as {persona.name}: "
            f"{case.field or 'body'}={case.bad.name} ({case.transport})"
        )
        if response.status_code >= 500 and not _not_ready(endpoint, response):
            error = getattr(response, "exc_info", None)
            self.fail(f"{where} -> {response.status_code} {repr(error[1])[:160] if error else ''}")
        elif problem:
            self.fail(f"{where} -> {response.status_code}: {problem}")

    def _data(self, names: set[str], case: Case, index: int) -> list[tuple[str, Any]]:
        """Good values in every field the endpoint reads, the bad one in the field under test."""
        typed = case.transport == "json"
        data = []
        for name in sorted(names):
            if case.base is not None and name != case.field:
                if name not in case.base:
                    continue
                good = case.base[name]
            elif name != case.field and name in self.harvest.optional and index % 2:
                continue  # a button or box a browser sends only when clicked
            else:
                good = self.harvest.value(name, index)
            data.append(
                (
                    name,
                    case.bad.value if name == case.field else (_as_json(good) if typed else good),
                )
            )
        return data


NUL, CONTROL, HUGE = TEXT[:3]
UNSTORABLE = [NUL, TEXT[4]]  # a NUL byte, a lone surrogate
# In a path: a NUL, control characters, a megabyte; and for ids, a bogus id of the right type.
PATH_VALUES = [NUL, CONTROL, HUGE, Bad("bogus id", None)]


def _corpus(
    endpoint: Endpoint, method: str, fields: list[str], bases: list[dict[str, str]]
) -> list[Case]:
    """Bad values for a request the view reads, every class at least once:

    - in each field: every text value but the megabyte, which goes in one field; NUL and a lone
      surrogate twice more, among the good values with which the view wrote (if any did);
    - JSON types: in each field for the API (which parses JSON), in one field elsewhere;
    - whole bodies of the wrong JSON type, nested too deep, or not JSON;
    - path parameters: bad text, a megabyte, and a bogus id of the right type.
    """
    main = "query" if method == "GET" else ("json" if endpoint.is_api else "form")
    cases = [Case(bad, main, name) for name in fields for bad in TEXT if bad is not HUGE]
    # What PostgreSQL cannot store, twice more, where it would be stored (a rejection's note is
    # stored only with a decision to reject and a reason from the list).
    cases += [
        Case(bad, main, name, bases[turn % len(bases)] if bases else None)
        for turn in range(2)
        for name in fields
        for bad in UNSTORABLE
    ]
    cases.append(Case(HUGE, main, fields[0]))
    if endpoint.is_api and method != "GET":
        cases += _spread(JSON_VALUES, fields, "json")
        cases += [Case(NUL, "form", name) for name in fields]  # the API takes forms too
    else:
        cases += [Case(bad, "json", fields[0]) for bad in JSON_VALUES]
    cases += [Case(bad, "body") for bad in BODIES]
    cases += [Case(bad, "path", param) for param in endpoint.params for bad in PATH_VALUES]
    return cases


def _spread(corpus: list[Bad], fields: list[str], transport: str) -> list[Case]:
    """Two values per field, taking turns, and every value in some field."""
    turns = max(len(corpus), 2 * len(fields))
    return [Case(corpus[k % len(corpus)], transport, fields[k % len(fields)]) for k in range(turns)]


def _accept(endpoint: Endpoint, index: int) -> str:
    """JSON for the API (it renders nothing else); HTML for pages, and JSON now and then, as the
    pages' own fetch() calls ask."""
    return "application/json" if endpoint.is_api or index % 3 == 0 else "text/html"


def _path_value(endpoint: Endpoint, case: Case) -> str:
    if case.bad.value is None:
        converter = type(endpoint.converters[case.field]).__name__
        return BOGUS_IDS.get(converter, "no-such-thing")
    return _encode(case.bad.value)


def _not_ready(endpoint: Endpoint, response: Any) -> bool:
    """The readiness probe's own 503: its JSON report, every check named, at least one failing."""
    if endpoint.name != READINESS or response.status_code != 503:
        return False
    report = json.loads(response.content)
    return report["status"] == "unavailable" and not all(
        check["ok"] for check in report["checks"].values()
    )


@pytest.fixture
def quiet_request_log() -> Iterator[None]:
    """Thousands of refused requests: Django's warning for each is noise here (5xx still log)."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _nul_in_the_url(
    endpoint: Endpoint, method: str, fields: list[str], bases: list[dict[str, str]]
) -> list[Case]:
    """A NUL byte in each query parameter the view reads, and in each path parameter."""
    return [Case(NUL, "query", name) for name in fields] + [
        Case(NUL, "path", param) for param in endpoint.params
    ]


def _prepared_run(world: dict[str, Any], **options: Any) -> Run:
    personas = [Persona(name, user) for name, user in world["personas"].items()]
    run = Run(discover(), personas, world["known"], **options)
    run.tables = {model._meta.db_table for model in run.models}
    run.baseline = snapshot(run.models)
    run.crawl()
    return run


def _report(run: Run) -> str:
    failures = list(run.failures)
    return f"{len(failures)} failures in {run.requests} requests:\n" + "\n".join(failures[:80])


# The walk is split into shards of the URLconf so that pytest-xdist spreads it over its workers:
# whole, it was the longest test of the suite (2.5 min idle, 6 min in CI) and ran on one worker.
# Each shard crawls the whole site (its links fill the path parameters) and attacks its share.
SHARDS = 4


def shard_of(endpoints: list[Endpoint], shard: int) -> list[Endpoint]:
    return sorted(endpoints, key=str)[shard::SHARDS]


def test_the_shards_cover_every_endpoint_once():
    endpoints = discover()
    shards = [shard_of(endpoints, shard) for shard in range(SHARDS)]
    routes = [str(endpoint) for shard in shards for endpoint in shard]
    assert sorted(routes) == sorted(str(endpoint) for endpoint in endpoints)
    assert all(len(shard) > 10 for shard in shards)


@pytest.mark.timeout(600)  # a guard against a hang: every endpoint of the site, as every persona
@pytest.mark.parametrize("shard", range(SHARDS))
def test_no_bad_input_reaches_a_500_or_stores_anything(world, quiet_request_log, shard):
    run = _prepared_run(world)
    mine = shard_of(run.endpoints, shard)

    for endpoint in mine:
        run.attack(endpoint)

    assert not run.failures, _report(run)
    assert {str(e) for e in mine} == run.reached, "no persona got past these gates"
    every = {bad.name for bad in TEXT + JSON_VALUES + BODIES}
    missed = {str(e): every - run.classes_hit[str(e)] for e in mine}
    assert not any(missed.values()), f"bad-value classes never sent: {missed}"


@pytest.mark.postgres_pass  # PostgreSQL is the engine that refuses NUL in text
def test_without_the_backstop_a_nul_in_the_url_still_never_reaches_a_500(world, quiet_request_log):
    """NulByteMiddleware is a backstop: the forms, serializers and path converters are the fix."""
    backstop = "access.middleware.NulByteMiddleware"
    assert backstop in settings.MIDDLEWARE
    with override_settings(MIDDLEWARE=[m for m in settings.MIDDLEWARE if m != backstop]):
        run = _prepared_run(world, corpus=_nul_in_the_url)
        for endpoint in run.endpoints:
            run.attack(endpoint)

    assert not run.failures, _report(run)


# --- what a refusal says: the cases the probe of the issue found, by name -------------------------


@pytest.fixture
def queued_job(tester):
    return make_job(tester)


def _api(client: Client, method: str, url: str, body: bytes | str) -> Any:
    return client.generic(method, url, body, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"prompt": 123}, "prompt", "Must be a string, not a number."),
        ({"guidance": True}, "guidance", "Must be a number, not a boolean."),
        ({"seed": "7"}, "seed", "Must be a whole number, not a string."),
        ({"model": ["demo"]}, "model", "Must be a string, not a list."),
        ({"prompt": "a\u0000b"}, "prompt", "Null characters are not allowed."),
        ({"prompt": "a\u001bb"}, "prompt", "Control characters are not allowed: U+001B."),
    ],
)
def test_the_api_refuses_json_of_the_wrong_type_instead_of_coercing_it(
    client, tester, body, field, message
):
    client.force_login(tester)
    good = {"model": "demo", "prompt": "a lighthouse"}

    response = _api(client, "POST", "/api/v1/jobs/", json.dumps({**good, **body}))

    assert response.status_code == 400 and response.json()["errors"][field] == [message]
    assert not Job.objects.exists()


@pytest.mark.parametrize("reason", [None, 123, [1], {}, "a\x00b"])
def test_a_cancel_reason_that_is_not_text_is_refused(client, tester, queued_job, reason):
    client.force_login(tester)

    response = _api(
        client, "POST", f"/api/v1/jobs/{queued_job.id}/cancel/", json.dumps({"reason": reason})
    )

    assert response.status_code == 400 and "reason" in response.json()["errors"]
    assert Job.objects.get().state == Job.State.QUEUED


@pytest.mark.parametrize("body", ["123", "[1]", "null", "[" * 2000 + "]" * 2000, "{'no': json"])
def test_a_cancel_body_that_is_not_a_json_object_is_refused(client, tester, queued_job, body):
    client.force_login(tester)

    response = _api(client, "POST", f"/api/v1/jobs/{queued_job.id}/cancel/", body)

    assert response.status_code == 400
    assert Job.objects.get().state == Job.State.QUEUED


def test_json_nested_deeper_than_the_limit_is_refused_by_name(client, tester):
    client.force_login(tester)

    response = _api(client, "POST", "/api/v1/jobs/", "[" * 33 + "]" * 33)

    assert response.status_code == 400
    assert response.json()["detail"] == "JSON nested deeper than 32 levels is not accepted."


def test_an_api_body_past_the_upload_limit_is_refused(client, tester, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    client.force_login(tester)

    response = _api(client, "POST", "/api/v1/jobs/", json.dumps({"prompt": "x" * 2000}))

    assert response.status_code == 400
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    ("limit", "size"), [("99999999999999999999", 3), ("-1", 3), ("\u00b2", 3), ("abc", 3)]
)
def test_a_page_limit_out_of_range_is_capped_or_ignored(client, tester, limit, size):
    for _ in range(3):
        make_job(tester)
    client.force_login(tester)

    response = client.get("/api/v1/jobs/", {"limit": limit})

    assert response.status_code == 200 and len(response.json()["results"]) == size


def test_no_page_holds_more_than_the_maximum(client, tester):
    from access.api.pagination import MAX_PAGE_SIZE

    template = make_job(tester)
    fields = {f.attname: getattr(template, f.attname) for f in Job._meta.concrete_fields}
    Job.objects.bulk_create([Job(**{**fields, "id": uuid.uuid4()}) for _ in range(MAX_PAGE_SIZE)])
    client.force_login(tester)

    page = client.get("/api/v1/jobs/", {"limit": 10_000}).json()

    assert len(page["results"]) == MAX_PAGE_SIZE and page["next"]


def test_a_refused_form_post_names_the_field_and_stores_nothing(client, tester, queued_job):
    client.force_login(tester)
    url = f"/studio/jobs/{queued_job.id}/cancel/"

    page = client.post(url, {"reason": "stop\x00"})
    answer = client.post(url, {"reason": "stop\x01"}, headers={"accept": "application/json"})

    assert page.status_code == 400
    assert "reason: Null characters are not allowed." in page.content.decode()
    assert answer.status_code == 400 and answer.json()["errors"] == {
        "reason": ["Control characters are not allowed: U+0001."]
    }
    assert Job.objects.get().state == Job.State.QUEUED


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("min_age_hours=99999999999", "min_age_hours"),
        ("min_age_hours=%C2%B2", "min_age_hours"),
        ("lane=nowhere", "lane"),
        ("tester=a%01b", "tester"),
    ],
)
def test_review_queue_filters_out_of_range_are_a_400_naming_the_filter(
    client, reviewer, query, field
):
    client.force_login(reviewer)

    response = client.get(f"/review/?{query}")

    assert response.status_code == 400 and f"{field}: " in response.content.decode()


def test_bulk_decisions_with_an_invalid_id_are_refused_whole(client, reviewer, outputs_dir, tester):
    output = make_output(tester)
    client.force_login(reviewer)

    response = client.post(
        "/review/bulk/", {"output": [str(output.id), "not-a-uuid"], "decision": "approve"}
    )

    assert response.status_code == 400 and "output: Not a valid id" in response.content.decode()
    assert Output.objects.get().state == Output.State.PENDING


def test_a_non_numeric_cohort_on_the_containment_page_is_a_400(client, world):
    admin = world["personas"]["admin"]
    client.force_login(admin)

    response = client.post(
        "/staff/containment/", {"action": "suspend-cohort", "reason": "x", "cohort": "abc"}
    )

    assert response.status_code == 400 and "cohort: " in response.content.decode()
    assert not AuditEntry.objects.filter(action__startswith="access.cohort").exists()


@pytest.mark.parametrize("url", ["/review/?tester=%00", "/staff/audit/?action=%00", "/s/%00/"])
def test_a_nul_byte_in_the_url_is_refused_before_any_view(client, url):
    response = client.get(url)

    assert response.status_code == 400
    assert response.content == b"Bad request: the URL contains a NUL byte."


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_method_an_endpoint_does_not_take_is_405_whoever_asks(client, tester, method):
    job = make_job(tester)
    pages = [f"/outputs/{uuid.uuid4()}/", "/api/v1/jobs/", f"/api/v1/jobs/{job.id}/"]

    anonymous = [getattr(client, method)(url).status_code for url in pages]
    client.force_login(tester)
    signed_in = [getattr(client, method)(url).status_code for url in pages]

    assert anonymous == signed_in == [405, 405, 405]
