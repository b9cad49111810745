from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "ops"
    verbose_name = "Operations"

    def ready(self) -> None:
        # A Celery worker started with VERNISSAGE_WORKER_METRICS_PORT serves its own metrics.
        from ops import worker_metrics

        worker_metrics.connect()
