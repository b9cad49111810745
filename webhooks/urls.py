from django.urls import path

from webhooks import views

urlpatterns = [
    path("webhooks/", views.webhooks, name="webhooks"),
    path("webhooks/<uuid:endpoint_id>/", views.webhook_detail, name="webhook_detail"),
    path("webhooks/<uuid:endpoint_id>/rotate/", views.webhook_rotate, name="webhook_rotate"),
    path("webhooks/<uuid:endpoint_id>/delete/", views.webhook_delete, name="webhook_delete"),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/replay/",
        views.webhook_replay,
        name="webhook_replay",
    ),
]
