from django import forms

from access.fields import TextField
from webhooks.models import EventType
from webhooks.services import DESCRIPTION_MAX_CHARS, URL_MAX_CHARS


class EndpointForm(forms.Form):
    """The settings page's form; the rules (public targets, known events) live in the services."""

    url = TextField(max_length=URL_MAX_CHARS, label="URL")
    events = forms.MultipleChoiceField(
        choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )
    description = TextField(required=False, max_length=DESCRIPTION_MAX_CHARS)
    enabled = forms.BooleanField(required=False, initial=True)
