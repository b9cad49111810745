from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        # The lower apps send their signals without knowing who listens; this app listens.
        from webhooks import receivers

        receivers.connect()
