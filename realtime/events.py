"""Typed payloads of every live event, and how each travels.

An event travels twice: over the channel layer as `{"type": <handler>, "payload": {...}}`
(Channels calls the consumer method named after `type`, dots as underscores), then to the browser
as `{"type": <client type>, <client key>: {...}}`. Payloads carry whole states, never deltas, so a
client simply replaces what it shows and a duplicate delivery is harmless.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    layer_type: ClassVar[str]  # channel-layer message type (consumer handler name)
    client_type: ClassVar[str]  # "type" of the message the browser receives
    client_key: ClassVar[str | None]  # the key the payload sits under (None: merged in)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def layer_message(self) -> dict[str, Any]:
        return {"type": self.layer_type, "payload": self.as_dict()}

    @classmethod
    def client_message(cls, payload: dict[str, Any]) -> dict[str, Any]:
        if cls.client_key is None:
            return {"type": cls.client_type, **payload}
        return {"type": cls.client_type, cls.client_key: payload}


@dataclass(frozen=True)
class OutputPayload:
    id: str
    state: str
    state_label: str
    reason: str
    note: str
    video_url: str
    poster_url: str


@dataclass(frozen=True)
class JobEvent(Event):
    """A job's whole current state (sent on every change, step updates throttled)."""

    layer_type: ClassVar[str] = "job.update"
    client_type: ClassVar[str] = "job"
    client_key: ClassVar[str | None] = "job"

    id: str
    owner_id: int
    model: str
    prompt: str
    state: str
    state_label: str
    step: int
    total_steps: int
    percent: int
    eta_s: float | None
    queue_position: int | None
    error: str
    created_at: str
    output: OutputPayload | None
    # What a job card shows and "reuse settings" copies; the same keys the API documents.
    parameters: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    started_at: str | None = None
    completed_at: str | None = None  # when it succeeded, failed or was cancelled


@dataclass(frozen=True)
class BudgetEvent(Event):
    """What one tester has left (jobs waiting or running, GPU-seconds today): sent to the
    tester's own sockets when a job of theirs is queued or ends."""

    layer_type: ClassVar[str] = "budget.update"
    client_type: ClassVar[str] = "budget"
    client_key: ClassVar[str | None] = "budget"

    user_id: int
    waiting: int
    waiting_limit: int | None
    gpu_seconds_left: float | None
    gpu_seconds_per_day: int | None


@dataclass(frozen=True)
class PreviewEvent(Event):
    """A small preview image of a running job, for its owner and reviewers only."""

    layer_type: ClassVar[str] = "job.preview"
    client_type: ClassVar[str] = "preview"
    client_key: ClassVar[str | None] = "preview"

    job_id: str
    owner_id: int
    step: int
    total_steps: int
    image: str  # a data: URL


@dataclass(frozen=True)
class AccessEndedEvent(Event):
    """A containment action reached this socket's user, cohort or program: it closes now."""

    layer_type: ClassVar[str] = "access.ended"
    client_type: ClassVar[str] = "access_ended"
    client_key: ClassVar[str | None] = None

    standing: str
    reason: str
    # The cause in the page's words (access/wording.py): the standing, or "cohort_suspended"
    # when the tester's cohort was suspended rather than the tester.
    kind: str = ""


@dataclass(frozen=True)
class StandingChangedEvent(Event):
    """A user's roles or permissions changed: their sockets check standing afresh at once (and
    close if it no longer allows them). Never passed on to the browser."""

    layer_type: ClassVar[str] = "standing.changed"
    client_type: ClassVar[str] = "standing_changed"
    client_key: ClassVar[str | None] = None

    user_id: int


@dataclass(frozen=True)
class ReviewItemEvent(Event):
    """A review-queue item was claimed, released or decided (decisions carry the new state)."""

    layer_type: ClassVar[str] = "review.update"
    client_type: ClassVar[str] = "review"
    client_key: ClassVar[str | None] = "item"

    id: str
    state: str
    claimed_by: str
    approvals: int


@dataclass(frozen=True)
class ArtistNoticeEvent(Event):
    """Something the lab did about an artist's work: a use request, an appeal's outcome."""

    layer_type: ClassVar[str] = "artist.notice"
    client_type: ClassVar[str] = "notice"
    client_key: ClassVar[str | None] = "notice"

    user_id: int
    kind: str
    text: str
    url: str


@dataclass(frozen=True)
class TraceEvent(Event):
    """A leak trace's state, and while it runs the read it is at (`stage`, words for people)."""

    layer_type: ClassVar[str] = "trace.update"
    client_type: ClassVar[str] = "trace"
    client_key: ClassVar[str | None] = "trace"

    id: str
    state: str
    state_label: str
    stage: str
    final: bool
