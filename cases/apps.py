from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CasesConfig(AppConfig):
    name = "cases"
    verbose_name = _("Cases")

    def ready(self) -> None:
        from cases import checks  # noqa: F401 - registers the deploy checks
        from cases.correspondence.samples import register

        register()  # sample transactions on partner notices; `account` empty in them (correspondence.extensions)
