"""Reads for the partners app. Every list selector takes the user, so visibility lives in one place."""

from __future__ import annotations

from django.db import models
from django.db.models import Aggregate, BooleanField, Case, Count, Exists, F, OuterRef, Q, QuerySet, Value, When

from cases.models import PartnerEngagement
from cases.models.incident import OPEN_STATUSES
from cases.selectors import recent_since
from partners.models import Partner, PartnerContact
from payhealth.i18n import Language


class Median(Aggregate):
    """PostgreSQL's `percentile_cont(0.5) WITHIN GROUP (ORDER BY …)`; Django has no median.

    Works on intervals as well as numbers, so the median time to acknowledge is computed in
    the database instead of loading every engagement.
    """

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    allow_distinct = False


def partner_list_visible_to(*, user) -> QuerySet[Partner]:
    """Partners the user may see, each annotated with its open and recent incident counts.

    An incident engages a partner at most once (`engagement_one_per_partner`), so counting
    engagement rows counts incidents; one grouped query whatever the page size. Every
    engagement counts, "not involved" ones included: the page lists them with that status.
    """
    if not user.has_perm("partners.view_partner"):
        return Partner.objects.none()
    since = recent_since()
    return (
        Partner.objects.select_related("calendar")
        .annotate(
            open_incidents=Count("engagements", filter=Q(engagements__incident__status__in=OPEN_STATUSES)),
            recent_incidents=Count("engagements", filter=Q(engagements__incident__created_at__gte=since)),
        )
        .order_by("-open_incidents", "name", "pk")
    )


def partner_search(queryset: QuerySet[Partner], text: str) -> QuerySet[Partner]:
    """Name or code contains the text, or one of the partner's contacts has it in name or email.

    The contact match is an EXISTS subquery, so it adds no rows to the grouped counts.
    """
    text = text.strip()
    if not text:
        return queryset
    contact_matches = PartnerContact.objects.filter(partner=OuterRef("pk")).filter(
        Q(name__icontains=text) | Q(email__icontains=text)
    )
    return queryset.filter(Q(name__icontains=text) | Q(code__icontains=text) | Exists(contact_matches))


def partner_figures(*, partner: Partner) -> dict:
    """Acknowledgement figures over engagements first notified in the last 90 days.

    The median time to acknowledge runs from `first_notified_at` to `acknowledged_at`; an
    acknowledgement recorded before our first notice (the partner told us first) is not a
    response time and is left out of the median, though it still counts as acknowledged.
    """
    notified_recently = Q(first_notified_at__gte=recent_since())
    acknowledged = notified_recently & Q(acknowledged_at__isnull=False)
    return PartnerEngagement.objects.filter(partner=partner).aggregate(
        notified=Count("pk", filter=notified_recently),
        acknowledged=Count("pk", filter=acknowledged),
        median_time_to_acknowledge=Median(
            F("acknowledged_at") - F("first_notified_at"),
            filter=acknowledged & Q(acknowledged_at__gte=F("first_notified_at")),
            output_field=models.DurationField(),
        ),
    )


def partner_contact_rows(*, partner: Partner) -> list[PartnerContact]:
    """The partner's contacts by escalation level, active ones first, each with its effective language.

    Fetched through the partner's related manager, so `contact.partner` is this instance and
    `effective_language` costs no query per contact.
    """
    contacts = list(partner.contacts.order_by("-active", "escalation_level", "name", "pk"))
    for contact in contacts:
        contact.effective_language_label = Language(contact.effective_language).label
        contact.language_is_inherited = not contact.language
    return contacts


def partner_engagement_rows(*, partner: Partner) -> QuerySet[PartnerEngagement]:
    """The partner's incidents with its status and folio on each: open incidents first, then newest."""
    return (
        PartnerEngagement.objects.filter(partner=partner)
        .select_related("incident")
        .annotate(
            incident_is_open=Case(
                When(incident__status__in=OPEN_STATUSES, then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            )
        )
        .order_by("-incident_is_open", "-incident__created_at", "-incident_id")
    )
