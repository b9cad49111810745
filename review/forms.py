"""Every input of the review pages, parsed: filters, decisions, shares, feedback, findings."""

from __future__ import annotations

from typing import Any

from django import forms

from access.fields import TextField, UUIDListField
from access.models import Cohort, User
from generation.registry import all_models
from review.models import Finding
from review.selectors import QUEUE_TABS, QueueFilters
from review.services import NOTE_MAX_CHARS

SHARE_MAX_DAYS = 365
# Older than ten years is older than the program: a bound that keeps the date arithmetic sane.
QUEUE_MAX_AGE_HOURS = 24 * 365 * 10
BULK_MAX_ITEMS = 200


class ShareForm(forms.Form):
    expires_in_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=SHARE_MAX_DAYS,
        label="Expires after (days)",
        help_text="Leave empty for no expiry.",
    )
    show_prompt = forms.BooleanField(required=False, label="Show the prompt on the share page")


class FeedbackForm(forms.Form):
    rating = forms.TypedChoiceField(
        choices=[(n, str(n)) for n in range(1, 6)], coerce=int, widget=forms.RadioSelect
    )
    notes = TextField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000)


class FindingForm(forms.Form):
    category = forms.ChoiceField(choices=Finding.Category.choices, label="Harm category")
    severity = forms.ChoiceField(choices=Finding.Severity.choices)
    description = TextField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)


class QueueFilterForm(forms.Form):
    """The review queue's filters, from the query string (the page and the API alike)."""

    model = TextField(required=False, max_length=40)
    cohort = TextField(required=False, max_length=80)
    tester = TextField(required=False, max_length=254)
    lane = forms.ChoiceField(required=False, choices=[("", "any lane"), *Cohort.Lane.choices])
    min_age_hours = forms.IntegerField(required=False, min_value=0, max_value=QUEUE_MAX_AGE_HOURS)
    state = forms.ChoiceField(
        required=False,
        choices=list(QUEUE_TABS.items()),
        error_messages={
            "invalid_choice": "Unknown tab %(value)s: choose one of " + ", ".join(QUEUE_TABS) + "."
        },
    )

    # An unknown value would only empty the list without saying why: it is refused, named.
    def clean_model(self) -> str:
        model = self.cleaned_data["model"]
        names = [spec.name for spec in all_models()]
        if model and model not in names:
            raise forms.ValidationError(f"Unknown model \u201c{model}\u201d.")
        return model

    def clean_cohort(self) -> str:
        cohort = self.cleaned_data["cohort"]
        if cohort and not Cohort.objects.filter(name=cohort).exists():
            raise forms.ValidationError(f"No cohort is named \u201c{cohort}\u201d.")
        return cohort

    def clean_tester(self) -> str:
        tester = self.cleaned_data["tester"]
        if tester and not User.objects.filter(email__icontains=tester).exists():
            raise forms.ValidationError(f"No tester\u2019s email contains \u201c{tester}\u201d.")
        return tester

    def clean_state(self) -> str:
        return self.cleaned_data["state"] or "pending"

    def filters(self) -> QueueFilters:
        data = {key: value for key, value in self.cleaned_data.items() if key != "page"}
        return QueueFilters(**data)


class QueuePageForm(QueueFilterForm):
    """The queue page's query string: the filters and which page of them."""

    page = forms.IntegerField(required=False, min_value=1, max_value=100_000)


class TesterNoteForm(forms.Form):
    body = TextField(
        required=False,
        max_length=NOTE_MAX_CHARS,
        label="Reviewers' note",
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ClaimForm(forms.Form):
    release = forms.BooleanField(required=False)


class DecisionForm(forms.Form):
    """One decision; which reasons and notes each decision needs is the services' rule."""

    decision = forms.ChoiceField(
        choices=[(d, d) for d in ("approve", "reject", "changes", "withdraw")],
        error_messages={"required": "Choose approve, reject, changes or withdraw."},
    )
    reason = TextField(required=False, max_length=200)
    note = TextField(required=False, max_length=NOTE_MAX_CHARS)


class BulkDecisionForm(forms.Form):
    output = UUIDListField(
        max_items=BULK_MAX_ITEMS,
        error_messages={"required": "Select at least one item for a bulk decision."},
    )
    decision = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    reason = TextField(required=False, max_length=200)
    note = TextField(required=False, max_length=NOTE_MAX_CHARS)

    def clean(self) -> dict[str, Any]:
        # Said once for the whole selection, before any item is tried (not once per item).
        data = super().clean() or {}
        if data.get("decision") == "reject" and not data.get("reason"):
            self.add_error("reason", "Choose a reason to reject the selected items.")
        return data


class FindingMoveForm(forms.Form):
    to = forms.ChoiceField(choices=Finding.State.choices)
    note = TextField(required=False, max_length=NOTE_MAX_CHARS)


class GalleryForm(forms.Form):
    show = forms.TypedChoiceField(choices=[("0", "hide"), ("1", "show")], coerce=lambda v: v == "1")


class PreferencesForm(forms.Form):
    email_on_decision = forms.BooleanField(required=False)
