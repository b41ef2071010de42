from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CostsConfig(AppConfig):
    name = "costs"
    verbose_name = _("Partner costs")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cases.sla.reports.extensions import ScorecardColumn, register_scorecard_column
        from costs.billing_report import billing_accuracy_column
        from costs.notices import register

        register()  # the billing-discrepancy notice's context and file (cases.correspondence.extensions)
        register_scorecard_column(
            ScorecardColumn(key="billing_accuracy", label=_("Billing accuracy"), values=billing_accuracy_column)
        )
