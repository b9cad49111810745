from django.urls import path

from webhooks.api import views

urlpatterns = [
    path("webhooks/", views.EndpointListView.as_view(), name="api_webhooks"),
    path("webhooks/<uuid:endpoint_id>/", views.EndpointDetailView.as_view(), name="api_webhook"),
    path(
        "webhooks/<uuid:endpoint_id>/rotate/",
        views.EndpointRotateView.as_view(),
        name="api_webhook_rotate",
    ),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/",
        views.DeliveryListView.as_view(),
        name="api_webhook_deliveries",
    ),
    path(
        "webhooks/<uuid:endpoint_id>/deliveries/<uuid:delivery_id>/replay/",
        views.DeliveryReplayView.as_view(),
        name="api_webhook_replay",
    ),
]
