from django.urls import path

from review import consumers

websocket_urlpatterns = [path("ws/review/", consumers.ReviewQueueConsumer.as_asgi())]
