"""Project configuration: settings, URLs, ASGI application and the Celery app.

The Celery app is imported here so `.delay()` anywhere in the project uses it (and its Redis broker)
instead of falling back to Celery's default AMQP broker.
"""

from config.celery import app as celery_app

__all__ = ["celery_app"]
