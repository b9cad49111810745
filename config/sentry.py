"""Optional error reporting: Sentry with its Django and Celery integrations, if SENTRY_DSN is set.

Imported only then, so a deployment without Sentry never loads the SDK. Personal data (user
emails, IP addresses, request bodies) is not sent: `send_default_pii` stays off.
"""

from __future__ import annotations


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
    )
