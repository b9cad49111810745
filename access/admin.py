from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from access.models import Invitation, User


@admin.register(User)
class VernissageUserAdmin(UserAdmin):
    fieldsets = (*UserAdmin.fieldsets, ("Vernissage", {"fields": ("display_name",)}))
    list_display = ("email", "display_name", "is_active", "is_staff", "date_joined")
    search_fields = ("email", "display_name", "username")


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ("email", "state", "invited_by", "created_at", "expires_at", "accepted_at")
    list_filter = ("state",)
    search_fields = ("email",)
    readonly_fields = ("code_digest", "state", "accepted_by", "accepted_at", "created_at")

    def has_add_permission(self, request) -> bool:
        # The code is shown only once, at creation: use `manage.py invite` (staff pages come later).
        return False
