from django.contrib import admin

from provenance.models import Trace


@admin.register(Trace)
class TraceAdmin(admin.ModelAdmin):
    list_display = ("created_at", "state", "original_name", "serial", "tester", "requested_by")
    list_filter = ("state",)
    readonly_fields = [field.name for field in Trace._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
