"""Fields the API of every app shares."""

from __future__ import annotations

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
