"""Fields the API of every app shares."""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from payhealth.ids import parse_id


@extend_schema_field(
    {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1, "maxLength": 64}]}
)
class ByIdOrKeyField(serializers.Field):
    """An object named by its numeric id or by its natural key (a merchant's account id, a partner's code)."""

    model = None
    key = ""
    default_error_messages = {"missing": _("No such object: %(value)s."), "invalid": _("Give an id or a key.")}

    def queryset(self):
        return self.model.objects.all()

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        if isinstance(data, int) or (isinstance(data, str) and data.isascii() and data.isdigit()):
            number = parse_id(data)
            found = self.queryset().filter(pk=number).first() if number is not None else None
        else:
            value = data.strip()
            found = self.queryset().filter(**{self.key: value}).first() if value and "\x00" not in value else None
        if found is None:
            raise serializers.ValidationError(self.error_messages["missing"] % {"value": str(data)[:64]})
        return found

    def to_representation(self, value):
        return value.pk


# The instants the API takes: nothing of a payments desk happened before 1970, and an instant
# beyond 9998 cannot be shown in every time zone.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)


@extend_schema_field({"type": "string", "format": "date-time", "example": "2026-03-02T09:00:00-06:00"})
class DateTimeField(serializers.DateTimeField):
    """An instant, valid RFC 3339 both ways.

    In: ISO 8601 with an offset (or in the desk's zone without one), between 1970 and 9998;
    earlier or later is a field error. Out: in the caller's time zone, or in UTC where that
    zone's offset is not whole minutes (the local mean time zones used before standard time,
    America/Mexico_City's -06:36:36 before 1922, which RFC 3339 cannot write).
    """

    default_error_messages = {
        "range": _("Give an instant between {earliest} and {latest}."),
    }

    def to_internal_value(self, value):
        try:
            instant = super().to_internal_value(value)
        except serializers.ValidationError as error:
            if error.get_codes() != ["overflow"]:  # beyond what a datetime in the desk's zone holds
                raise
            instant = None
        if instant is None or not EARLIEST <= instant < LATEST:
            self.fail("range", earliest=EARLIEST.date().isoformat(), latest=LATEST.date().isoformat())
        return instant

    def enforce_timezone(self, value):
        local = super().enforce_timezone(value)
        offset = local.utcoffset() if isinstance(local, datetime) else None
        if offset is not None and offset.total_seconds() % 60:
            return local.astimezone(UTC)
        return local
