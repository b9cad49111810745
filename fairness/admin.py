from django.contrib import admin

from fairness.models import Appeal, OutputUse, UseRequest


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
