import datetime as dt
import zoneinfo
from functools import lru_cache

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Profile
from payhealth.forms import Form, ModelForm
from payhealth.i18n import Language

# Mexico's zones first, by the name people know them by; then UTC; then every region of the zone
# database. Aliases kept for old software (US/Eastern, Mexico/General, Etc/GMT+6, EST…) are left
# out: each place is offered once, under its canonical name.
MEXICO_ZONES = {
    "America/Mexico_City": _("Mexico City (central Mexico)"),
    "America/Cancun": _("Cancún (Quintana Roo)"),
    "America/Merida": _("Mérida (Yucatán, Campeche)"),
    "America/Monterrey": _("Monterrey (Nuevo León)"),
    "America/Matamoros": _("Matamoros (border with the United States)"),
    "America/Chihuahua": _("Chihuahua"),
    "America/Ciudad_Juarez": _("Ciudad Juárez"),
    "America/Ojinaga": _("Ojinaga"),
    "America/Mazatlan": _("Mazatlán (Sinaloa, Nayarit, Baja California Sur)"),
    "America/Bahia_Banderas": _("Bahía de Banderas"),
    "America/Hermosillo": _("Hermosillo (Sonora)"),
    "America/Tijuana": _("Tijuana (Baja California)"),
}
REGIONS = {
    "America": _("America"),
    "Europe": _("Europe"),
    "Asia": _("Asia"),
    "Africa": _("Africa"),
    "Atlantic": _("Atlantic"),
    "Pacific": _("Pacific"),
    "Australia": _("Australia"),
    "Indian": _("Indian Ocean"),
    "Antarctica": _("Antarctica"),
    "Arctic": _("Arctic"),
}


def _offset(name: str, now: dt.datetime) -> str:
    minutes = int(now.astimezone(zoneinfo.ZoneInfo(name)).utcoffset().total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@lru_cache(maxsize=1)
def _region_zones() -> dict[str, list[str]]:
    regions: dict[str, list[str]] = {region: [] for region in REGIONS}
    for name in sorted(zoneinfo.available_timezones()):
        region, _sep, place = name.partition("/")
        if region in regions and place and name not in MEXICO_ZONES:
            regions[region].append(name)
    return regions


def timezone_choices(*, now: dt.datetime | None = None) -> list:
    """The zones a person may choose, grouped for a `<select>` with `<optgroup>`s: Mexico, UTC,
    then each region; every label carries the zone's current offset from UTC."""
    now = now or dt.datetime.now(dt.UTC)
    mexico = [(name, f"{label} · {name} ({_offset(name, now)})") for name, label in MEXICO_ZONES.items()]
    choices: list = [(_("Mexico"), mexico), ("UTC", "UTC")]
    for region, names in _region_zones().items():
        places = [(name, f"{name.partition('/')[2].replace('_', ' ')} ({_offset(name, now)})") for name in names]
        choices.append((REGIONS[region], places))
    return choices


def offered_zones() -> set[str]:
    return {"UTC", *MEXICO_ZONES, *(name for names in _region_zones().values() for name in names)}


class ProfileForm(ModelForm):
    """A person's preferences: the zone every time is shown in, chosen from the zone database's
    places (grouped by region, Mexico first), and the language of the interface."""

    timezone = forms.ChoiceField(
        label=_("Time zone"),
        help_text=_("Every date and time is shown in this zone."),
        error_messages={"invalid_choice": _("%(value)s is not a known time zone.")},
    )

    class Meta:
        model = Profile
        fields = ["timezone", "language"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = timezone_choices()
        current = self.instance.timezone if self.instance else ""
        if current and current not in offered_zones():  # an older alias stays choosable until changed
            choices.insert(0, (current, current))
        self.fields["timezone"].choices = choices
        self.fields["language"].choices = [("", _("The browser's language")), *Language.choices]
        self.fields["language"].help_text = _("The language switch at the top of every page changes it too.")


class ApiTokenForm(Form):
    """The name of a new personal API token; `api_token_create` says what a name must be."""

    name = forms.CharField(required=False, strip=False)
