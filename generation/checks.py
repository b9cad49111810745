from django.core import checks
from django.core.exceptions import ImproperlyConfigured

from generation.registry import all_models


@checks.register()
def model_registry_check(app_configs, **kwargs) -> list[checks.CheckMessage]:
    try:
        all_models()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="vernissage.E001")]
    return []
