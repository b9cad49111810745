from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any, cast

from django import forms

from access.fields import TextField
from access.models import User
from generation.models import Job
from generation.pipeline.constraints import FRAME_STEP, SIZE_MULTIPLE
from generation.quotas import Limits, limits_for
from generation.registry import ModelSpec, Params, enabled_models, get_model
from generation.services import (
    CANCEL_REASON_MAX_CHARS,
    PROMPT_MAX_CHARS,
    RERUN_FIELDS,
    SEED_MAX,
    JobRejected,
    JobRequest,
    job_validate,
)

# The shape fields are chosen, not typed: every option is a shape the pipeline accepts.
SHAPE_FIELDS = ("num_frames", "width", "height")
SETTING_FIELDS = ("model", *RERUN_FIELDS)
ASPECT_RATIOS = (("1:1", 1, 1), ("16:9", 16, 9), ("9:16", 9, 16), ("4:3", 4, 3), ("3:4", 3, 4))
DURATIONS_S = (0.5, 1, 2, 3, 5, 10)


@dataclass(frozen=True)
class Preset:
    label: str
    values: dict[str, int]


def frame_counts(limit: int) -> list[int]:
    """Every frame count the pipeline takes (4k+1), up to `limit`."""
    return list(range(1, limit + 1, FRAME_STEP))


def side_lengths(limit: int) -> list[int]:
    """Every side the pipeline takes (a multiple of 16), up to `limit`."""
    return list(range(SIZE_MULTIPLE, limit + 1, SIZE_MULTIPLE))


# How far a size's ratio may stray from its chip's label: within NEAR it counts as the ratio
# (sides that are multiples of 16 rarely hit one exactly); beyond USABLE there is no chip.
RATIO_NEAR = 0.03
RATIO_USABLE = 0.10

Size = tuple[int, int]


def _ratio_error(size: Size, ratio: float) -> float:
    return abs(size[0] / size[1] / ratio - 1)


def _area(size: Size) -> int:
    return size[0] * size[1]


def _best_size(sizes: list[Size], ratio: float, *, largest: bool) -> Size | None:
    """Of `sizes`, one near `ratio` (the largest or smallest), else the closest usable one."""
    usable = [size for size in sizes if _ratio_error(size, ratio) <= RATIO_USABLE]
    if not usable:
        return None
    near = [size for size in usable if _ratio_error(size, ratio) <= RATIO_NEAR]
    if near:
        return max(near, key=_area) if largest else min(near, key=_area)
    return min(usable, key=lambda size: (_ratio_error(size, ratio), -_area(size)))


def aspect_presets(spec: ModelSpec, limits: Limits) -> list[Preset]:
    """One size per aspect ratio, among every width x height the tester may ask for.

    The rule: sizes whose short side is at most the default's short side come first (the size
    the model is made for; larger costs GPU time): of those within 3 % of the ratio the largest,
    else the closest within 10 %. Only when none is within 10 % do larger sizes count, the
    smallest near one first. A ratio no allowed size comes within 10 % of gets no chip.
    """
    short = min(spec.defaults.width, spec.defaults.height)
    sizes = [(w, h) for w in side_lengths(limits.width) for h in side_lengths(limits.height)]
    modest = [size for size in sizes if min(size) <= short]
    larger = [size for size in sizes if min(size) > short]
    presets = []
    for label, across, down in ASPECT_RATIOS:
        ratio = across / down
        best = _best_size(modest, ratio, largest=True) or _best_size(larger, ratio, largest=False)
        if best is not None:
            presets.append(Preset(label, {"width": best[0], "height": best[1]}))
    return presets


def duration_presets(spec: ModelSpec, limits: Limits) -> list[Preset]:
    """Clip lengths in seconds at the model's frame rate, each snapped to a valid frame count."""
    presets, seen = [], set()
    for seconds in DURATIONS_S:
        wanted = seconds * spec.fps
        frames = 1 + round((wanted - 1) / FRAME_STEP) * FRAME_STEP
        if frames < 1 or frames > limits.num_frames or frames in seen:
            continue
        seen.add(frames)
        presets.append(Preset(f"{frames / spec.fps:.1f} s", {"num_frames": frames}))
    return presets


@dataclass(frozen=True)
class ModelChoice:
    """A model this user may use, with its limits and the shape presets derived from them."""

    spec: ModelSpec
    limits: Limits
    aspects: list[Preset]
    durations: list[Preset]

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "fps": self.spec.fps,
            "limits": {
                field: getattr(self.limits, field) for field in (*SHAPE_FIELDS, "steps", "guidance")
            },
        }


def model_choices(user: User) -> list[ModelChoice]:
    return [
        ModelChoice(spec, limits, aspect_presets(spec, limits), duration_presets(spec, limits))
        for spec in enabled_models()
        if (limits := limits_for(user, spec)) is not None
    ]


class JobForm(forms.Form):
    """Parses the studio form into a JobRequest; the rules themselves live in job_submit.

    The shape fields stay integers on the server (a value another client sends is judged by
    job_submit, which names what is wrong); the page offers only valid values to choose from.
    """

    model = forms.ChoiceField()
    # Bounded loosely here (the rules, PROMPT_MAX_CHARS included, are job_submit's); the shared
    # text field refuses control characters before anything else looks at the text.
    prompt = TextField(
        required=False,
        strip=False,
        max_length=PROMPT_MAX_CHARS * 2,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": PROMPT_MAX_CHARS, "required": True}),
    )
    negative_prompt = TextField(
        required=False,
        strip=False,
        max_length=PROMPT_MAX_CHARS * 2,
        widget=forms.Textarea(attrs={"rows": 2, "maxlength": PROMPT_MAX_CHARS}),
        help_text="What the video should not show.",
    )
    seed = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=SEED_MAX,
        help_text="Leave empty for a random seed.",
        widget=forms.NumberInput(attrs={"min": 0, "max": SEED_MAX, "inputmode": "numeric"}),
    )
    num_frames = forms.IntegerField(required=False, label="Frames", widget=forms.Select)
    width = forms.IntegerField(required=False, label="Width", widget=forms.Select)
    height = forms.IntegerField(required=False, label="Height", widget=forms.Select)
    steps = forms.IntegerField(required=False, label="Steps")
    guidance = forms.FloatField(required=False, label="Guidance")
    parent = forms.UUIDField(required=False, widget=forms.HiddenInput)
    client_token = TextField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, choices: list[ModelChoice] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._choices = choices or []
        for field in ("prompt", "negative_prompt"):
            # The page holds to job_submit's limit (the field's own, looser bound would win).
            self.fields[field].widget.attrs["maxlength"] = PROMPT_MAX_CHARS
        models = enabled_models()
        model_field = cast(forms.ChoiceField, self.fields["model"])  # declared above
        model_field.choices = [(spec.name, spec.label) for spec in models]
        self._offer_valid_shapes(choices or [])
        if not self.is_bound:
            self.initial.setdefault("client_token", uuid.uuid4().hex)
            if models and "model" not in self.initial:
                self._fill_defaults(models[0])

    def _offer_valid_shapes(self, choices: list[ModelChoice]) -> None:
        specs: list[Limits | Params] = [choice.limits for choice in choices]
        specs = specs or [spec.limits for spec in enabled_models()]
        if not specs:
            return
        for field, values in (
            ("num_frames", frame_counts(max(limits.num_frames for limits in specs))),
            ("width", side_lengths(max(limits.width for limits in specs))),
            ("height", side_lengths(max(limits.height for limits in specs))),
        ):
            options = [(value, str(value)) for value in values]
            cast(forms.Select, self.fields[field].widget).choices = options
        for field in ("steps", "guidance"):
            self.fields[field].widget.attrs["min"] = 0 if field == "guidance" else 1
            limit = max(getattr(limits, field) for limits in specs)
            self.fields[field].widget.attrs["max"] = limit
        self.fields["guidance"].widget.attrs["step"] = 0.5

    def _fill_defaults(self, spec: ModelSpec) -> None:
        self.initial["model"] = spec.name
        for field in ("num_frames", "width", "height", "steps", "guidance"):
            self.initial[field] = getattr(spec.defaults, field)

    def to_request(self) -> JobRequest:
        data = self.cleaned_data
        return JobRequest(
            model_name=data["model"],
            prompt=data["prompt"],
            negative_prompt=data["negative_prompt"],
            seed=data["seed"],
            num_frames=data["num_frames"],
            width=data["width"],
            height=data["height"],
            steps=data["steps"],
            guidance=data["guidance"],
        )

    def settings(self) -> dict[str, Any]:
        """What the form asked for, to offer again next time (JSON-safe)."""
        return {field: self.cleaned_data.get(field) for field in SETTING_FIELDS}

    def add_rejection(self, exc: JobRejected) -> None:
        """The service's errors, each next to its field, in the words the page uses."""
        for field, problems in exc.errors.items():
            target = field if field in self.fields else None
            for problem in problems:
                if target is None or field not in self.errors:
                    self.add_error(target, self.humanize(problem))
                elif self.humanize(problem) not in self.errors[field]:
                    self.errors[field].append(self.humanize(problem))

    @property
    def error_count(self) -> int:
        """How many errors the page shows (a field may have several)."""
        return sum(len(errors) for errors in self.errors.values())

    def check_the_rest(self, user: User) -> None:
        """After the form refused some fields, judge the others by job_submit's rules too, so
        every error comes at once (the refused fields fall back to the model's defaults). With
        no model this user may use, the rest is judged against the widest of their models."""
        spec = get_model(self.cleaned_data.get("model") or "")
        limits = limits_for(user, spec) if spec is not None else None
        if spec is None or limits is None:
            spec, limits = self._widest(user)
        if spec is None or limits is None:
            return
        data: dict[str, Any] = {
            field: self.cleaned_data.get(field)
            for field in RERUN_FIELDS
            if field not in self.errors
        }
        data.setdefault("prompt", "x")  # already refused: do not report it twice
        data["negative_prompt"] = data.get("negative_prompt") or ""
        try:
            job_validate(JobRequest(model_name=spec.name, **data), spec, limits)
        except JobRejected as exc:
            self.add_rejection(exc)

    def _widest(self, user: User) -> tuple[ModelSpec | None, Limits | None]:
        """A stand-in for "any of your models": the largest of each limit they allow."""
        choices = self._choices or model_choices(user)
        if not choices:
            return None, None
        widest = {
            field: max(getattr(choice.limits, field) for choice in choices)
            for field in (*SHAPE_FIELDS, "steps", "guidance")
        }
        first = choices[0]
        limits = replace(first.limits, **widest)
        spec = replace(first.spec, name="any of your models", limits=Params(**widest))
        return spec, limits

    def humanize(self, message: str) -> str:
        for name, field in self.fields.items():
            if field.label and name in message:
                message = message.replace(name, str(field.label))
        return message[:1].upper() + message[1:]


def settings_of(job: Job) -> dict[str, Any]:
    """A job's settings as the studio form's initial values."""
    return {"model": job.model_name, **{field: getattr(job, field) for field in RERUN_FIELDS}}


class StudioFilterForm(forms.Form):
    """The job grid's query string: state, text and page. Bad values are reported, not ignored."""

    state = forms.ChoiceField(required=False, choices=[("", "All"), *Job.State.choices])
    q = TextField(required=False, max_length=200, label="Search")
    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)


class CancelForm(forms.Form):
    reason = TextField(required=False, max_length=CANCEL_REASON_MAX_CHARS)
