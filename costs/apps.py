from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Partner costs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from costs.notices import register

        register()  # the billing-discrepancy notice's context and file (cases.correspondence.extensions)
