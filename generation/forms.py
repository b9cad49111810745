from __future__ import annotations

import uuid
from typing import cast

from django import forms

from access.fields import TextField
from generation.registry import enabled_models
from generation.services import CANCEL_REASON_MAX_CHARS, PROMPT_MAX_CHARS, SEED_MAX, JobRequest


class JobForm(forms.Form):
    """Parses the studio form into a JobRequest; the rules themselves live in job_submit."""

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
    )
    seed = forms.IntegerField(
        required=False, min_value=0, max_value=SEED_MAX, help_text="Leave empty for a random seed."
    )
    num_frames = forms.IntegerField(required=False, label="Frames")
    width = forms.IntegerField(required=False)
    height = forms.IntegerField(required=False)
    steps = forms.IntegerField(required=False)
    guidance = forms.FloatField(required=False)
    client_token = TextField(required=False, max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        models = enabled_models()
        model_field = cast(forms.ChoiceField, self.fields["model"])  # declared above
        model_field.choices = [(spec.name, spec.label) for spec in models]
        if not self.is_bound and models:
            self._fill_defaults(models[0])

    def _fill_defaults(self, spec) -> None:
        self.initial.update({"model": spec.name, "client_token": uuid.uuid4().hex})
        for field in ("num_frames", "width", "height", "steps", "guidance"):
            self.initial[field] = getattr(spec.defaults, field)
            self.fields[field].widget.attrs["max"] = getattr(spec.limits, field)
            self.fields[field].widget.attrs["min"] = 0 if field == "guidance" else 1

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


class CancelForm(forms.Form):
    reason = TextField(required=False, max_length=CANCEL_REASON_MAX_CHARS)
