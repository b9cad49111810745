from __future__ import annotations

from allauth.account.forms import SignupForm
from allauth.core import context
from django import forms
from django.core.exceptions import PermissionDenied
from django.db import transaction

from access.models import User
from access.selectors import SESSION_INVITATION_KEY, invitation_from_session
from access.services import InvitationError, invitation_accept


class InvitationSignupForm(SignupForm):
    """allauth's signup form with the email taken from the invitation and locked."""

    display_name = forms.CharField(
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
        # Disabled fields ignore submitted data: the browser cannot change the address.
        self.fields["email"].disabled = True

    def clean_email(self) -> str:
        if self.invitation is None:
            raise forms.ValidationError("Signing up needs a valid, unused invitation link.")
        return super().clean_email()

    def save(self, request) -> User:
        with transaction.atomic():
            user = super().save(request)
            user.display_name = self.cleaned_data.get("display_name", "").strip()
            user.save(update_fields=["display_name"])
            try:
                invitation_accept(invitation_id=self.invitation.pk, user=user)
            except InvitationError as exc:
                # Only a concurrent signup with the same link gets here (clean() already checked);
                # leaving the atomic block by exception rolls this user back.
                raise PermissionDenied(str(exc)) from exc
        request.session.pop(SESSION_INVITATION_KEY, None)
        return user
