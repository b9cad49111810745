from django.urls import path

from provenance import consumers

websocket_urlpatterns = [path("ws/traces/<uuid:trace_id>/", consumers.TraceConsumer.as_asgi())]
