from django.contrib import admin

from access.services import audit_record
from fairness import audit
from fairness.models import Appeal, OutputUse, ProgramPage, UseRequest


@admin.register(UseRequest)
class UseRequestAdmin(admin.ModelAdmin):
    """Read-only: requests, answers and uses change only through the services (and are audited)."""

    list_display = ("output", "purpose", "state", "requested_by", "created_at", "answered_at")
    list_filter = ("purpose", "state")
    readonly_fields = [f.name for f in UseRequest._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(OutputUse)
class OutputUseAdmin(admin.ModelAdmin):
    list_display = ("request", "used_by", "note", "created_at")
    readonly_fields = [f.name for f in OutputUse._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Appeal)
class AppealAdmin(admin.ModelAdmin):
    list_display = ("output", "state", "author", "original_reviewer", "decided_by", "due_at")
    list_filter = ("state",)
    readonly_fields = [f.name for f in Appeal._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ProgramPage)
class ProgramPageAdmin(admin.ModelAdmin):
    """One row: what the program page says about the program, rewards and outputs."""

    list_display = ("__str__", "updated_at")

    def has_add_permission(self, request) -> bool:
        return not ProgramPage.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        super().save_model(request, obj, form, change)
        audit_record(
            action=audit.PROGRAM_PAGE_CHANGED,
            actor=request.user,
            target=obj,
            details={"fields": form.changed_data},
        )
