"""The Django admin: every action goes through the same services as the staff pages."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin

from access import audit
from access.models import ApiToken, AuditEntry, Cohort, Invitation, TermsVersion, User
from access.roles import roles_snapshot
from access.services import (
    AccessError,
    audit_record,
    cohort_reinstate,
    invitation_resend,
    invitation_revoke,
    sessions_end,
    terms_publish,
    tester_reinstate,
    token_revoke,
)
from containment.services import cohort_suspend, tester_revoke, tester_suspend
from generation.registry import get_model


def _each(modeladmin, request, queryset, action, done: str) -> None:
    count = 0
    for obj in queryset:
        try:
            action(obj)
            count += 1
        except AccessError as exc:
            modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
    modeladmin.message_user(request, f"{done}: {count}")


@admin.register(User)
class VernissageUserAdmin(UserAdmin):
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        ("Vernissage", {"fields": ("display_name", "cohort", "standing", "standing_reason")}),
    )
    readonly_fields = ("standing", "standing_reason")
    list_display = ("email", "display_name", "cohort", "standing", "is_staff", "date_joined")
    list_filter = ("standing", "cohort", "is_staff", "groups")
    search_fields = ("email", "display_name", "username")
    actions = ["suspend", "revoke", "reinstate", "end_sessions"]

    # Fields that grant power. Only a superuser changes them, and nobody on their own account.
    POWER_FIELDS = ("is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if not request.user.is_superuser or (obj is not None and obj.pk == request.user.pk):
            fields = (*fields, *self.POWER_FIELDS)
        return fields

    def has_change_permission(self, request, obj=None) -> bool:
        """Staff accounts (their roles, permissions and password) are a superuser's to change:
        otherwise an Admin could set a superuser's password and sign in as them."""
        if obj is not None and obj.is_staff and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_staff and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        request._roles_before = roles_snapshot(obj.pk) if change else {}
        super().save_model(request, obj, form, change)
        audit_record(
            action=audit.USER_CHANGED if change else audit.USER_CREATED,
            actor=request.user,
            target=obj,
            details={"fields": form.changed_data},
        )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before, after = getattr(request, "_roles_before", {}), roles_snapshot(form.instance.pk)
        if before != after:
            audit_record(
                action=audit.USER_ROLES_CHANGED,
                actor=request.user,
                target=form.instance,
                details={"before": before, "after": after},
            )

    @admin.action(description="Suspend selected testers (reason: suspended from the admin)")
    def suspend(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda user: tester_suspend(
                tester=user, by=request.user, reason="suspended from the admin"
            ),
            "Suspended",
        )

    @admin.action(description="Revoke selected testers (reason: revoked from the admin)")
    def revoke(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda user: tester_revoke(
                tester=user, by=request.user, reason="revoked from the admin"
            ),
            "Revoked",
        )

    @admin.action(description="Reinstate selected testers")
    def reinstate(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda user: tester_reinstate(tester=user, by=request.user),
            "Reinstated",
        )

    @admin.action(description="End all sessions of selected users")
    def end_sessions(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda user: sessions_end(user=user, by=request.user),
            "Sessions ended for",
        )


class CohortAdminForm(forms.ModelForm):
    """Model names are checked against the registry here, at the door: the registry belongs to
    `generation`, which the `access` models must not import."""

    class Meta:
        model = Cohort
        fields = "__all__"  # noqa: DJ007 (the admin edits every field of a cohort)

    def clean_model_names(self) -> list[str]:
        names = self.cleaned_data.get("model_names") or []
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise forms.ValidationError('A list of model names, e.g. ["demo"].')
        unknown = [name for name in names if get_model(name) is None]
        if unknown:
            raise forms.ValidationError(f"Unknown models: {', '.join(unknown)}")
        return names


@admin.register(Cohort)
class CohortAdmin(admin.ModelAdmin):
    form = CohortAdminForm
    list_display = (
        "name",
        "lane",
        "starts_at",
        "ends_at",
        "max_concurrent_jobs",
        "max_queued_jobs",
        "gpu_seconds_per_day",
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            action=audit.COHORT_CHANGED if change else audit.COHORT_CREATED,
            actor=request.user,
            target=obj,
            details={"fields": form.changed_data},
        )

    actions = ["suspend", "reinstate"]

    @admin.action(description="Suspend selected cohorts (reason: suspended from the admin)")
    def suspend(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda cohort: cohort_suspend(
                cohort=cohort, by=request.user, reason="suspended from the admin"
            ),
            "Suspended",
        )

    @admin.action(description="Reinstate selected cohorts")
    def reinstate(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda cohort: cohort_reinstate(cohort=cohort, by=request.user),
            "Reinstated",
        )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "cohort",
        "state",
        "invited_by",
        "created_at",
        "expires_at",
        "accepted_at",
    )
    list_filter = ("state", "cohort")
    search_fields = ("email",)
    readonly_fields = [f.name for f in Invitation._meta.fields]
    actions = ["resend", "revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # the code is shown once, at creation: use Staff → Invitations

    @admin.action(description="Resend (new link, new expiry)")
    def resend(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda inv: invitation_resend(invitation=inv, by=request.user),
            "Resent",
        )

    @admin.action(description="Revoke")
    def revoke(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda inv: invitation_revoke(invitation=inv, by=request.user),
            "Revoked",
        )


@admin.register(TermsVersion)
class TermsVersionAdmin(admin.ModelAdmin):
    list_display = ("version", "title", "published_at")
    fields = ("title", "body")

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a published version is a record of what people agreed to

    def save_model(self, request, obj, form, change):
        published = terms_publish(title=obj.title, body=obj.body, by=request.user)
        obj.pk, obj.version = published.pk, published.version


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "prefix",
        "scopes",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "last_used_ip",
    )
    readonly_fields = [f.name for f in ApiToken._meta.fields]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda token: token_revoke(token=token, by=request.user),
            "Revoked",
        )


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor_label", "target_label", "ip")
    list_filter = ("action",)
    search_fields = ("action", "actor_label", "target_label", "target_id")
    readonly_fields = [f.name for f in AuditEntry._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
