from django.contrib import admin

from review.models import Output, ShareLink


@admin.register(Output)
class OutputAdmin(admin.ModelAdmin):
    list_display = ("id", "job", "state", "decided_by", "created_at")
    list_filter = ("state",)
    readonly_fields = [f.name for f in Output._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    list_display = ("output", "created_by", "created_at", "expires_at", "revoked_at", "view_count")
    readonly_fields = ("token", "output", "created_by", "view_count")

    def has_add_permission(self, request) -> bool:
        return False
