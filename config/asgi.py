"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The web server serves many short requests at once: it pools its PostgreSQL connections
# (VERNISSAGE_DB_POOL=0 turns that off; config/settings.py says why only here).
os.environ.setdefault("VERNISSAGE_DB_POOL", "1")
# ...and never keeps a connection per thread: each request runs in a thread of its own, so a
# persistent connection would be left open behind every request (with the pool off, or on SQLite).
os.environ.setdefault("VERNISSAGE_DB_CONN_MAX_AGE", "0")
django.setup(set_prefix=False)  # what get_asgi_application() does, before building the handler

from config.asgi_handler import OneHopASGIHandler  # noqa: E402  (needs settings)

django_asgi_app = OneHopASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs the app registry ready)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from fairness.routing import websocket_urlpatterns as fairness_routes  # noqa: E402
from generation.routing import websocket_urlpatterns as generation_routes  # noqa: E402
from provenance.routing import websocket_urlpatterns as provenance_routes  # noqa: E402
from realtime.origin import SameOriginValidator  # noqa: E402
from review.routing import websocket_urlpatterns as review_routes  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(
            AuthMiddlewareStack(
                URLRouter(generation_routes + review_routes + fairness_routes + provenance_routes)
            )
        ),
    }
)
