from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from access.roles import roles_ensure

        # Roles are Django groups; (re)created after every migrate, and after test flushes.
        post_migrate.connect(roles_ensure, dispatch_uid="access.roles_ensure")
