from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate
from django.urls import register_converter

from access.converters import TokenConverter


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access"

    def ready(self) -> None:
        from access.roles import roles_ensure  # models load only once the app registry is ready

        # `<token:…>` in any app's URLs; registered before the URLconf is first loaded.
        register_converter(TokenConverter, "token")

        # Roles are Django groups; (re)created after every migrate, and after test flushes. Once,
        # after the last of our apps, when every permission the roles name exists.
        post_migrate.connect(
            roles_ensure,
            sender=apps.get_app_config("provenance"),
            dispatch_uid="access.roles_ensure",
        )
