"""factory_boy factories for every model the tests build."""

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from cases.models import AffectedMerchant, Incident, Merchant, PartnerEngagement
from cases.numbering import next_reference
from cases.sla.rollups import sla_rollup_mark
from partners.models import Partner, PartnerContact

# The desk's test users: caller → (username, role). tests/conftest.py's fixtures of the same
# names make them (`no_role`: the `outsider` fixture); the permission walks build them once.
DESK_USERS = {
    "no_role": ("otto", None),
    "analyst": ("ana", "analyst"),
    "partner_manager": ("pablo", "partner_manager"),
    "lead": ("lucia", "lead"),
}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@payhealth.test")
    first_name = factory.Faker("first_name")
    password = factory.PostGenerationMethodCall("set_password", "secret-pass-123")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        if create:
            self.save()


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    code = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.Sequence(lambda n: f"Partner {n}")
    kind = Partner.Kind.ISSUER
    country = "MX"
    language = "es"


class PartnerContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerContact

    partner = factory.SubFactory(PartnerFactory)
    name = factory.Faker("name")
    email = factory.Sequence(lambda n: f"contact{n}@partner.test")


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    account_id = factory.Sequence(lambda n: f"acct_TEST{n:08d}")
    name = factory.Sequence(lambda n: f"Merchant {n}")
    country = "MX"
    mcc = "5411"


class IncidentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Incident

    reference = factory.LazyFunction(lambda: next_reference(2026))
    title = factory.Sequence(lambda n: f"Approval rate drop {n}")
    category = "auth_rate"
    severity = "sev3"
    # What partners read; a notice is sent only with both in its language.
    partner_title_en = factory.LazyAttribute(lambda incident: incident.title)
    partner_title_es = factory.LazyAttribute(lambda incident: incident.title)
    partner_summary_en = "Authorizations decline more than usual."
    partner_summary_es = "Las autorizaciones se rechazan más de lo habitual."


class AffectedMerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AffectedMerchant

    incident = factory.SubFactory(IncidentFactory)
    merchant = factory.SubFactory(MerchantFactory)


class PartnerEngagementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PartnerEngagement

    incident = factory.SubFactory(IncidentFactory)
    partner = factory.SubFactory(PartnerFactory)


def _now():
    from django.utils import timezone

    return timezone.now()


def _default_sla_policy(severity: str):
    from cases.models import SlaPolicy

    return SlaPolicy.objects.get(severity=severity, partner=None, partner_kind="", category="", active=True)


class SlaClockFactory(factory.django.DjangoModelFactory):
    """A clock written directly (not through the SLA engine): tests set state and instants themselves.

    Defaults: our acknowledge clock on the incident severity's default policy and calendar, running
    since now, due after the full target in wall time (right for 24x7 calendars; set `due_at` for
    business calendars).
    """

    class Meta:
        model = "cases.SlaClock"

    incident = factory.SubFactory(IncidentFactory)
    engagement = None
    family = factory.LazyAttribute(lambda o: "partner" if o.engagement else "ours")
    metric = "acknowledge"
    policy = factory.LazyAttribute(lambda o: _default_sla_policy(o.incident.severity))
    calendar = factory.LazyAttribute(lambda o: o.policy.calendar)
    target = factory.LazyAttribute(lambda o: o.policy.acknowledge_target)
    warn_after = factory.LazyAttribute(lambda o: o.target * 3 / 4)
    state = "running"
    started_at = factory.LazyFunction(lambda: _now())
    consumed_at = factory.LazyAttribute(lambda o: o.started_at)
    due_at = factory.LazyAttribute(lambda o: o.started_at + o.target if o.state == "running" else None)
    warn_due_at = factory.LazyAttribute(lambda o: o.started_at + o.warn_after if o.state == "running" else None)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        clock = super()._create(model_class, *args, **kwargs)
        # Written past the SLA engine, like any other path it marks the reports' rollups.
        sla_rollup_mark(incident_ids=[clock.incident_id])
        return clock


class SlaClockEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "cases.SlaClockEvent"

    clock = factory.SubFactory(SlaClockFactory)
    kind = "start"
    at = factory.LazyAttribute(lambda o: o.clock.started_at)
    cycle = factory.LazyAttribute(lambda o: o.clock.cycle)


class WebhookSubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "webhooks.WebhookSubscription"

    owner = factory.SubFactory(UserFactory, role="partner_manager")
    name = factory.Sequence(lambda n: f"Hook {n}")
    url = "https://hooks.example.test/payhealth"
    events = factory.LazyFunction(lambda: ["incident.status_changed"])
