from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from access.roles import roles_ensure  # models load only once the app registry is ready

        # Roles are Django groups; (re)created after every migrate, and after test flushes. Once,
        # after the last of our apps, when every permission the roles name exists.
        post_migrate.connect(
            roles_ensure, sender=apps.get_app_config("review"), dispatch_uid="access.roles_ensure"
        )
