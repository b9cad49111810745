from django.urls import path

from fairness import consumers

websocket_urlpatterns = [path("ws/artist/", consumers.ArtistConsumer.as_asgi())]
