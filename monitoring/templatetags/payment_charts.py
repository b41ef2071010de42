"""Filters of the chart tables: rates (shares 0–1) as percentages, localised."""

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def percent(value, places: int = 2):
    """0.90123 → "90.12 %" (localised decimal separator); "—" for no value."""
    if value is None or value == "":
        return "—"
    return f"{floatformat(float(value) * 100, places)} %"
