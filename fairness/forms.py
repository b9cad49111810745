"""Every input of the fairness pages, parsed; the services hold the rules."""

from __future__ import annotations

from django import forms
from django.db import transaction

from access.fields import TextField
from access.forms import InvitationSignupForm
from access.models import User
from fairness.models import Purpose, Thread
from fairness.services import training_preference_set
from fairness.services.artists import CREDIT_NAME_MAX_CHARS, CREDIT_URL_MAX_CHARS
from fairness.services.common import NOTE_MAX_CHARS
from fairness.services.consent import USE_NOTE_MAX_CHARS
from fairness.services.threads import MODEL_VERSION_MAX_CHARS

TRAINING_LABEL = "Let the lab include my videos in training datasets by default"
TRAINING_HELP = (
    "Off unless you turn it on. Each job records the choice in force when you submit it; "
    "you can withdraw consent for any single video later."
)


class ArtistSignupForm(InvitationSignupForm):
    """Signup shows the training preference (off by default) next to the credit name."""

    training_opt_in = forms.BooleanField(
        required=False, label=TRAINING_LABEL, help_text=TRAINING_HELP
    )

    def save(self, request) -> User:
        with transaction.atomic():
            user = super().save(request)
            training_preference_set(user=user, opted_in=self.cleaned_data["training_opt_in"])
        return user


class ArtistSettingsForm(forms.Form):
    training_opt_in = forms.BooleanField(
        required=False, label=TRAINING_LABEL, help_text=TRAINING_HELP
    )
    credit_name = TextField(required=False, max_length=CREDIT_NAME_MAX_CHARS, label="Credit name")
    credit_url = TextField(
        required=False,
        max_length=CREDIT_URL_MAX_CHARS,
        label="Credit link (optional, https://…)",
    )


class UseAnswerForm(forms.Form):
    answer = forms.ChoiceField(
        choices=[("grant", "grant"), ("decline", "decline"), ("withdraw", "withdraw")],
        error_messages={"required": "Choose grant, decline or withdraw."},
    )


class AppealForm(forms.Form):
    note = TextField(max_length=NOTE_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 3}))


class UseRequestForm(forms.Form):
    output = forms.UUIDField(label="Output id")
    purpose = forms.ChoiceField(choices=Purpose.choices)
    message = TextField(max_length=NOTE_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 3}))


class UseRecordForm(forms.Form):
    note = TextField(max_length=USE_NOTE_MAX_CHARS)


class ExportForm(forms.Form):
    purpose = forms.ChoiceField(choices=Purpose.choices)


class AppealDecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[("uphold", "uphold"), ("overturn", "overturn")],
        error_messages={"required": "Choose uphold or overturn."},
    )
    note = TextField(max_length=NOTE_MAX_CHARS)


class ReplyForm(forms.Form):
    body = TextField(max_length=NOTE_MAX_CHARS, widget=forms.Textarea(attrs={"rows": 2}))


class ThreadStatusForm(forms.Form):
    to = forms.ChoiceField(choices=[c for c in Thread.State.choices if c[0] != "received"])
    note = TextField(max_length=NOTE_MAX_CHARS)
    model_version = TextField(required=False, max_length=MODEL_VERSION_MAX_CHARS)


class DeleteForm(forms.Form):
    confirm = forms.BooleanField(
        error_messages={"required": "Tick the box to confirm the deletion."},
        label="Delete this video, its poster and its share links",
    )


class LegalHoldForm(forms.Form):
    tester = forms.EmailField(label="Tester's email")
    reason = TextField(max_length=500)
