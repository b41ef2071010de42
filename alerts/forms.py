from alerts.models import AlertSeverityRule
from alerts.services import RULE_FIELDS
from payhealth.forms import ModelForm


class AlertSeverityRuleForm(ModelForm):
    """Shape only; `alert_rule_create`/`alert_rule_update` run the model's full validation."""

    class Meta:
        model = AlertSeverityRule
        fields = list(RULE_FIELDS)

    def _post_clean(self):
        # The service validates the instance (and the database constraints) when it saves.
        pass
