from django import forms

from review.models import Finding

SHARE_MAX_DAYS = 365


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
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=2000
    )


class FindingForm(forms.Form):
    category = forms.ChoiceField(choices=Finding.Category.choices, label="Harm category")
    severity = forms.ChoiceField(choices=Finding.Severity.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)
