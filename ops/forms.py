from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.utils import timezone

DEFAULT_DAYS = 30
MAX_DAYS = 366


class UsageForm(forms.Form):
    """The usage page's window (whole UTC days, both ends included), and CSV or HTML."""

    start = forms.DateField(required=False, help_text="First day (default: 29 days before end).")
    end = forms.DateField(required=False, help_text="Last day (default: today).")
    by = forms.ChoiceField(
        required=False, choices=[("", "tester"), ("tester", "tester"), ("cohort", "cohort")]
    )
    format = forms.ChoiceField(
        required=False, choices=[("", "page"), ("html", "page"), ("csv", "CSV")]
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        end = data.get("end") or timezone.now().date()
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        if "start" in self.errors or "end" in self.errors:
            return data
        if start > end:
            self.add_error("start", "The first day must not be after the last day.")
        elif (end - start).days >= MAX_DAYS:
            self.add_error("start", f"The window may span at most {MAX_DAYS} days.")
        data["start"], data["end"] = start, end
        return data

    def window(self) -> tuple[datetime, datetime]:
        """[start 00:00 UTC, the day after end 00:00 UTC)."""
        start: date = self.cleaned_data["start"]
        end: date = self.cleaned_data["end"]
        return (
            datetime.combine(start, time.min, tzinfo=UTC),
            datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
        )
