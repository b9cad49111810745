from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from allauth.account.forms import SignupForm
from allauth.core import context
from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction

from access import audit
from access.fields import TextField, reject_control_characters
from access.models import ApiToken, Cohort, User
from access.selectors import SESSION_INVITATION_KEY, client_ip, invitation_from_session
from access.services import TOKEN_DEFAULT_DAYS, TOKEN_MAX_DAYS, AccessError, invitation_accept

BULK_MAX_BYTES = 1_000_000
BULK_MAX_LINES = 500  # one bulk invite; more is a script's work (and a page of 1000 results)


class InvitationSignupForm(SignupForm):
    """allauth's signup form with the email taken from the invitation and locked."""

    display_name = TextField(
        max_length=80,
        required=False,
        label="Name for credits",
        help_text="Shown as the artist's credit on share pages. Defaults to your email's name.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.invitation = invitation_from_session(context.request)
        if self.invitation is not None:
            self.fields["email"].initial = self.invitation.email
            self.fields["display_name"].initial = self.invitation.name
        # Disabled fields ignore submitted data: the browser cannot change the address.
        self.fields["email"].disabled = True

    def clean_email(self) -> str:
        if self.invitation is None:
            raise forms.ValidationError("Signing up needs a valid, unused invitation link.")
        return super().clean_email()

    def save(self, request) -> User:
        invitation = self.invitation
        if invitation is None:  # clean_email() refuses a signup without one
            raise PermissionDenied("Signing up needs a valid, unused invitation link.")
        with transaction.atomic():
            user = super().save(request)
            user.display_name = self.cleaned_data.get("display_name", "").strip()
            user.save(update_fields=["display_name"])
            try:
                invitation_accept(invitation_id=invitation.pk, user=user, ip=client_ip(request))
            except AccessError as exc:
                # Only a concurrent signup with the same link gets here (clean() already checked);
                # leaving the atomic block by exception rolls this user back.
                raise PermissionDenied(str(exc)) from exc
        request.session.pop(SESSION_INVITATION_KEY, None)
        return user


class InvitationForm(forms.Form):
    email = forms.EmailField()
    cohort = forms.ModelChoiceField(Cohort.objects.all())
    name = TextField(max_length=80, required=False)


class BulkInvitationForm(forms.Form):
    """Lines or a CSV file of `email,cohort,name` (cohort and name optional)."""

    cohort = forms.ModelChoiceField(
        Cohort.objects.all(), required=False, help_text="For lines that name no cohort."
    )
    lines = TextField(
        widget=forms.Textarea(attrs={"rows": 6}), required=False, max_length=BULK_MAX_BYTES
    )
    # A plain file input: the clearable one adds a "clear" box that makes the value False.
    csv_file = forms.FileField(required=False, label="CSV file", widget=forms.FileInput)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        upload = data.get("csv_file")
        if upload:
            if upload.size > BULK_MAX_BYTES:
                raise forms.ValidationError("The CSV file is larger than 1 MB.")
            try:
                data["csv_text"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError("The CSV file is not UTF-8 text.") from None
            try:
                reject_control_characters(data["csv_text"])
            except forms.ValidationError as exc:
                raise forms.ValidationError({"csv_file": exc}) from None
        if self.has_error("lines") or self.has_error("csv_file"):
            return data  # the field's own error says what is wrong; "paste some lines" would not
        if not data.get("lines", "").strip() and not data.get("csv_text", "").strip():
            raise forms.ValidationError("Paste some lines or choose a CSV file.")
        if (count := len([line for line in self.text().splitlines() if line.strip()])) > (
            BULK_MAX_LINES
        ):
            raise forms.ValidationError(
                f"At most {BULK_MAX_LINES} lines at a time; this has {count}. "
                "Split it into smaller batches."
            )
        return data

    def text(self) -> str:
        return "\n".join(
            part
            for part in (self.cleaned_data.get("lines", ""), self.cleaned_data.get("csv_text"))
            if part
        )


class TokenForm(forms.Form):
    name = TextField(max_length=80)
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    days = forms.IntegerField(
        min_value=1, max_value=TOKEN_MAX_DAYS, initial=TOKEN_DEFAULT_DAYS, label="Expires in (days)"
    )

    def __init__(self, *args: Any, allowed_scopes: Iterable[str] | None = None, **kwargs: Any):
        """`allowed_scopes`: the scopes this user may hold (`token_scopes_for`); only those are
        offered (staff scopes only to staff with two factors and the role)."""
        super().__init__(*args, **kwargs)
        if allowed_scopes is not None:
            allowed = set(allowed_scopes)
            field = self.fields["scopes"]
            if isinstance(field, forms.MultipleChoiceField):
                field.choices = [(v, lbl) for v, lbl in ApiToken.Scope.choices if v in allowed]


class TermsForm(forms.Form):
    """Accepting the terms: the version read, the box, and where to go next."""

    version = forms.IntegerField(required=False, min_value=0)
    accept = TextField(required=False, max_length=16)
    next = TextField(required=False)


class ReasonForm(forms.Form):
    """A staff action's reason (the service decides whether the action needs one), and whether
    the person saw the action's impact and confirmed it (dangerous actions act only then)."""

    reason = TextField(required=False, max_length=500)
    confirm = forms.BooleanField(required=False)


class ConfirmForm(forms.Form):
    """The confirm step of an action that needs one (revoking an API token)."""

    confirm = forms.BooleanField(required=False)


class ContainmentForm(forms.Form):
    """The staff containment page: pause or resume the program, suspend or reinstate a cohort.
    Pausing and suspending act only with `confirm` (after their impact was shown)."""

    COHORT_ACTIONS = ("suspend-cohort", "reinstate-cohort")
    ENDING_ACTIONS = ("pause", "suspend-cohort")

    action = forms.ChoiceField(choices=[(a, a) for a in ("pause", "resume", *COHORT_ACTIONS)])
    reason = TextField(required=False, max_length=500)
    cohort = forms.ModelChoiceField(Cohort.objects.all(), required=False)
    confirm = forms.BooleanField(required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("action") in self.COHORT_ACTIONS and data.get("cohort") is None:
            self.add_error("cohort", "Choose the cohort.")
        return data


class AuditFilterForm(forms.Form):
    """The audit log page's filters (query parameters), and CSV or HTML."""

    action = TextField(required=False, max_length=80)
    actor = TextField(required=False, max_length=254)
    target = TextField(required=False, max_length=254)
    format = forms.ChoiceField(
        required=False, choices=[("", "page"), ("html", "page"), ("csv", "CSV")]
    )
    page = forms.IntegerField(required=False, min_value=1)

    def clean_action(self) -> str:
        """A registered action ("access.token.revoked") or a group of them ("access.token")."""
        action = self.cleaned_data["action"]
        names = audit.registered()
        if action and not any(n == action or n.startswith(action + ".") for n in names):
            raise forms.ValidationError(f"Unknown action {action!r}: choose one from the list.")
        return action

    def filters(self) -> dict[str, str]:
        return {key: self.cleaned_data.get(key) or "" for key in ("action", "actor", "target")}


def audit_action_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """The audit page's action list: every registered action, grouped by app, each group first
    offering all of its entity's actions ("access.token: all")."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name, label in sorted(audit.registered().items()):
        app, entity = name.split(".")[0], ".".join(name.split(".")[:2])
        options = groups.setdefault(app, [])
        if (entity, f"{entity}: all") not in options:
            options.append((entity, f"{entity}: all"))
        options.append((name, label))
    return sorted(groups.items())


class TesterFilterForm(forms.Form):
    """The testers page's search (query parameters)."""

    q = TextField(required=False, max_length=254)
    standing = forms.ChoiceField(
        required=False,
        choices=[("", "any standing")]
        + [
            (s.value, s.label)
            for s in (User.Standing.ACTIVE, User.Standing.SUSPENDED, User.Standing.REVOKED)
        ],
    )
    page = forms.IntegerField(required=False, min_value=1)
