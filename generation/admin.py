from django.contrib import admin

from generation.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "model_name", "state", "progress_step", "steps", "created_at")
    list_filter = ("state", "model_name")
    search_fields = ("id", "owner__email", "prompt")
    readonly_fields = [f.name for f in Job._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
