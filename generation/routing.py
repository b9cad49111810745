from django.urls import path

from generation import consumers

websocket_urlpatterns = [
    path("ws/studio/", consumers.StudioConsumer.as_asgi()),
    path("ws/jobs/<uuid:job_id>/", consumers.JobConsumer.as_asgi()),
]
