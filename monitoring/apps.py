from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MonitoringConfig(AppConfig):
    name = "monitoring"
    verbose_name = _("Payment data")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cases.pir.extensions import register_chart_provider
        from monitoring.charts.panels import incident_report_charts

        register_chart_provider("monitoring", incident_report_charts)  # the post-incident report's charts
