from django.contrib import admin

from webhooks.models import Delivery, DeliveryAttempt, Endpoint


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    """Staff see endpoints; only their owners create, change or delete them (through the
    services, audited). Containing the owner stops their deliveries."""

    list_display = ("url", "owner", "enabled", "created_at")
    list_filter = ("enabled",)
    fields = ("owner", "url", "description", "events", "enabled", "created_at", "updated_at")
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    readonly_fields = [field.name for field in DeliveryAttempt._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event_type", "endpoint", "state", "attempts")
    list_filter = ("state", "event_type")
    readonly_fields = [field.name for field in Delivery._meta.fields]
    inlines = [DeliveryAttemptInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
