"""What a partner's reply says: its language, and the folio and estimated time it names.

Everything here reads text and writes nothing. It works on what the partner wrote in this reply
(`own_text`): quoted history (`> …` lines, "On … wrote:", "El … escribió:", Outlook's header
block and "Original Message" separators) and the signature (after `-- `) are cut off, so our own
notice quoted back (its reference, its times) is never taken for the partner's words.

- **Language**: a Spanish/English detector (lingua), built once per process on first use;
  text too short or too mixed to tell leaves the partner's language.
- **Folio candidates**: the usual shapes of a partner's ticket ("Folio PRS-20190810-0042",
  "folio: 123456", "ticket INC0012345", "número de reporte 4471", "caso #88123", "our reference
  CHG-2231"), never our own reference (`PH-YYYY-NNNNNN`).
- **ETA candidates**: a time the partner promises ("le informamos a las 14:00", "ETA 16:00 CST",
  "estimamos restablecer a las 17:30 h", "by 4pm EST", "mañana a las 9:00", "el 12/08/2019 a las
  10:00"), read by dateparser in the partner's time zone relative to the reply's Date. A zone
  abbreviation of the partner's own zone (CST/CDT for Mexico City, EST/EDT for New York) means
  its local time, whatever the season (partners write "CST" for "hora del centro" all year);
  another zone's abbreviation is read at that zone's offset. "In 2 hours" counts from the
  reply's Date; a time before the reply was written is no ETA.

Candidates are suggestions: a person confirms one (`inbound.confirm`), nothing is applied here.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import nh3

LANGUAGES = ("en", "es")
MIN_LETTERS = 12  # fewer letters than this: too short to tell, the partner's language stands
MAX_TEXT = 20_000  # characters of a reply read for language and candidates
MAX_CANDIDATES = 10
MAX_MATCHES = 50  # time expressions read per pattern: a reply promises a few, not hundreds
MAX_VALUE = 80  # PartnerEngagement.folio's length

# --- the partner's own words --------------------------------------------------------------------

_QUOTE_STARTS = [
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"^\s*-{2,}\s*(original message|mensaje original|forwarded message|mensaje reenviado)\s*-{2,}",
        r"^\s*_{10,}\s*$",
        r"^\s*(on|el)\b.{0,200}\b(wrote|escribi[óo])\s*:\s*$",
        r"^\s*(from|de)\s*:.+$",
    )
]
_OUTLOOK_NEXT = re.compile(r"^\s*(sent|enviado|date|fecha|to|para|subject|asunto)\s*:", re.IGNORECASE)
_SIGNATURE = re.compile(r"^(--|__)\s*$")
_SENT_FROM = re.compile(r"^\s*(sent from my|enviado desde mi)\b", re.IGNORECASE)


def _html_text(html: str) -> str:
    """The visible text of an HTML body, quoted blocks left out, one line per block."""
    html = re.sub(r"(?i)<br\s*/?>|</(p|div|li|tr|h\d)\s*>", "\n", html or "")
    text = nh3.clean(html, tags=set(), attributes={}, clean_content_tags={"blockquote", "script", "style", "title"})
    return unescape(text)


def own_text(body_text: str, body_html: str = "") -> str:
    """What the partner wrote in this reply: no quoted history, no signature."""
    text = (body_text or "") if (body_text or "").strip() else _html_text(body_html)
    lines = text[:MAX_TEXT].replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for number, line in enumerate(lines):
        if _SIGNATURE.match(line) or _SENT_FROM.match(line):
            break
        if line.lstrip().startswith(">"):
            continue
        if any(pattern.match(line) for pattern in _QUOTE_STARTS[:3]):
            break
        if _QUOTE_STARTS[3].match(line):
            following = [item for item in lines[number + 1 : number + 4] if item.strip()]
            if any(_OUTLOOK_NEXT.match(item) for item in following):
                break
        kept.append(line)
    return "\n".join(kept).strip()


# --- language -----------------------------------------------------------------------------------


@functools.cache
def _detector():
    """Spanish and English only, built once per process, on first use. Low accuracy mode (trigrams
    alone) keeps it to about 20 MB per process and tells these two languages apart even in a
    three-word reply."""
    from lingua import Language, LanguageDetectorBuilder

    return LanguageDetectorBuilder.from_languages(Language.ENGLISH, Language.SPANISH).with_low_accuracy_mode().build()


def detect_language(text: str, *, fallback: str) -> str:
    """ "es" or "en" for the text; `fallback` (the partner's language) when it cannot tell."""
    fallback = fallback if fallback in LANGUAGES else "en"
    letters = sum(character.isalpha() for character in text or "")
    if letters < MIN_LETTERS:
        return fallback
    from lingua import Language

    values = {item.language: item.value for item in _detector().compute_language_confidence_values(text)}
    spanish, english = values.get(Language.SPANISH, 0.0), values.get(Language.ENGLISH, 0.0)
    if abs(spanish - english) < 0.2:  # too mixed to tell
        return fallback
    return "es" if spanish > english else "en"


# --- folios -------------------------------------------------------------------------------------

OUR_REFERENCE = re.compile(r"^PH-\d{4}-\d{6}$", re.IGNORECASE)
_LABEL = (
    r"(?:n[uú]mero\s+de\s+(?:folio|reporte|ticket|caso|incidente|incidencia|referencia)"
    r"|(?:our|your|nuestra|su)\s+(?:reference|ref\.?|referencia|ticket|case)"
    r"|folio|ticket|caso|case|incidente|incidencia|incident|reporte|report|referencia|reference|ref\.?)"
)
_FOLIO = re.compile(
    _LABEL + r"(?:\s*(?:no\.?|n[oº°]\.?|number|n[uú]mero|num\.?))?\s*(?:[:#=]|-\s)?\s*#?\s*"
    r"(?P<value>[A-Z0-9](?:[A-Z0-9_]|[-.](?=[A-Z0-9])){2,79})\b",
    re.IGNORECASE,
)
_BARE_TICKET = re.compile(r"\b(?P<value>(?:INC|CHG|RITM|REQ|PRB|SR)\d{5,})\b")


def folio_candidates(text: str) -> list[dict]:
    """The partner's folio as the reply names it, in order of appearance, each value once."""
    found: dict[str, dict] = {}
    for pattern in (_FOLIO, _BARE_TICKET):
        for match in pattern.finditer(text or ""):
            value = match.group("value").rstrip(".")
            if not any(character.isdigit() for character in value) or OUR_REFERENCE.match(value):
                continue
            if re.fullmatch(r"\d{1,2}([.:]\d{2})?", value):  # "caso 14.00" is a time, not a folio
                continue
            key = value.upper()
            if key not in found:
                found[key] = {"kind": "folio", "value": value[:MAX_VALUE], "excerpt": _excerpt(text, match)}
    return list(found.values())


def _excerpt(text: str, match: re.Match, around: int = 60) -> str:
    """The words around the match, within its sentence and line."""
    start, end = max(0, match.start() - around), min(len(text), match.end() + around)
    before = max(text.rfind(stop, start, match.start()) for stop in (".", "\n", ";"))
    after = [position for stop in (".", "\n", ";") if (position := text.find(stop, match.end(), end)) != -1]
    start = before + 1 if before != -1 else start
    end = min(after) if after else end
    return " ".join(text[start:end].split())


# --- estimated times ----------------------------------------------------------------------------

ZONE_OFFSETS = {
    "UTC": 0,
    "GMT": 0,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
}
_CUE = (
    r"\b(?:eta|estimated|estimate|expect(?:ed)?|restore[ds]?|restoration|resolved|fixed|back|update[ds]?|"
    r"by|before|no\s+later\s+than|until|confirm\w*|"
    r"inform\w*|estimamos|estimad[oa]|restablec\w*|restaur\w*|soluci[oó]n\w*|confirm\w*|"
    r"actualizaci[oó]n|a\s+m[aá]s\s+tardar|antes\s+de|hora\s+estimada|hasta|pr[oó]xim[oa])"
)
_DAY = (
    r"(?:hoy|mañana|manana|pasado\s+mañana|today|tomorrow|tonight|"
    r"(?:el\s+)?(?:lunes|martes|mi[eé]rcoles|jueves|viernes|s[aá]bado|domingo)|"
    r"(?:on\s+)?(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"(?:el\s+|on\s+)?\d{1,2}/\d{1,2}/\d{2,4}|\d{4}-\d{2}-\d{2})"
)
_TIME = (
    r"(?P<hour>\d{1,2})(?:[:.](?P<minute>\d{2}))?\s*"
    r"(?P<ampm>[ap]\.?\s?m\.?(?![a-z]))?\s*(?P<suffix>h(?:rs?|oras)?\.?(?![a-z]))?"
    r"(?:\s*(?P<zone>UTC|GMT|[ECMP][SD]T)\b)?"
)
_AT = r"(?:(?P<at>a\s+las?|at|by|@|a\s+eso\s+de\s+las|antes\s+de\s+las)\s+)?"
_ETA = re.compile(
    _CUE + r"[^.\n;]{0,60}?\b(?P<day>" + _DAY + r")?[\s,]*" + _AT + r"\b" + _TIME
    + r"(?:[\s,]+(?P<dayafter>" + _DAY + r"))?(?![\d/])",
    re.IGNORECASE,
)  # fmt: skip
_DAY_TIME = re.compile(r"\b(?P<day>" + _DAY + r")[\s,]*" + _AT + r"\b" + _TIME + r"(?![\d/])", re.IGNORECASE)
_WITHIN = re.compile(
    _CUE + r"[^.\n;]{0,60}?\b(?:in|en|within|dentro\s+de)\s+(?P<amount>\d{1,3})\s*"
    r"(?P<unit>hours?|hrs?|horas?|minutes?|mins?|minutos?)\b",
    re.IGNORECASE,
)
_US_ZONES = {
    "America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles",
    "America/Anchorage", "Pacific/Honolulu", "America/Detroit", "US/Eastern", "US/Central", "US/Pacific",
}  # fmt: skip


def _partner_zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _own_abbreviations(zone: ZoneInfo, year: int) -> set[str]:
    return {datetime(year, month, 15, 12, tzinfo=zone).tzname() or "" for month in (1, 7)}


def _day_of(expression: str, base: datetime, language: str, month_first: bool):
    """The date a day expression names ("mañana", "12/08/2019", "Monday"), relative to `base`."""
    return _parsed_day(" ".join(expression.lower().split()), base.replace(tzinfo=None), language, month_first)


@functools.lru_cache(maxsize=256)
def _parsed_day(expression: str, base: datetime, language: str, month_first: bool):
    import dateparser

    settings = {
        "RELATIVE_BASE": base,
        "PREFER_DATES_FROM": "future",
        "DATE_ORDER": "MDY" if month_first else "DMY",
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    expression = re.sub(r"^(el|on)\s+", "", expression.strip(), flags=re.IGNORECASE)
    other = "en" if language == "es" else "es"
    parsed = dateparser.parse(expression, languages=[language, other], settings=settings)
    return parsed.date() if parsed is not None else None


def eta_candidates(text: str, *, sent_at: datetime, partner_timezone: str, language: str) -> list[dict]:
    """Times the reply promises, as aware datetimes (ISO 8601) in the partner's zone."""
    zone = _partner_zone(partner_timezone)
    base = sent_at.astimezone(zone)
    month_first = language == "en" and partner_timezone in _US_ZONES  # 08/12/2019 is 12 August in Mexico
    found: dict[str, tuple[int, dict]] = {}
    text = text or ""
    for pattern in (_ETA, _DAY_TIME, _WITHIN):
        for number, match in enumerate(pattern.finditer(text)):
            if number >= MAX_MATCHES or len(found) >= MAX_CANDIDATES:
                break
            if pattern is _WITHIN:
                amount = int(match.group("amount"))
                unit = timedelta(minutes=1) if match.group("unit").lower().startswith("m") else timedelta(hours=1)
                when = base + amount * unit if amount * unit <= timedelta(days=7) else None
            else:
                when = _eta_of(match, base=base, zone=zone, language=language, month_first=month_first)
            if when is None or when < base:  # an ETA before the reply was written is none
                continue
            key = when.astimezone(UTC).isoformat()
            if key not in found:
                found[key] = (
                    match.start(),
                    {"kind": "eta", "value": when.isoformat(), "excerpt": _excerpt(text, match)},
                )
    return [item for _start, item in sorted(found.values(), key=lambda pair: pair[0])]


def _eta_of(match: re.Match, *, base: datetime, zone: ZoneInfo, language: str, month_first: bool) -> datetime | None:
    hour, minute = int(match.group("hour")), int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").lower().replace(".", "").replace(" ", "")
    if not (match.group("minute") or ampm or match.group("at") or match.group("zone")):
        return None  # a bare number ("2 horas", "folio 4471") is no time of day
    if match.group("suffix") and not match.group("minute") and not match.group("at"):
        return None  # "4 h" alone is a duration
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm.startswith("p") else 0)
    if hour > 23 or minute > 59:
        return None
    day_expression = match.group("day") or match.group("dayafter")
    if day_expression:
        day = _day_of(day_expression, base, language, month_first)
        if day is None:
            return None
    else:
        day = base.date()
    abbreviation = (match.group("zone") or "").upper()
    if abbreviation and abbreviation not in _own_abbreviations(zone, base.year):
        local_zone = timezone(timedelta(hours=ZONE_OFFSETS[abbreviation]), abbreviation)
    else:
        local_zone = zone
    try:
        when = datetime(day.year, day.month, day.day, hour, minute, tzinfo=local_zone)
    except ValueError:
        return None
    if abs(when - base) > timedelta(days=60):
        return None
    return when.astimezone(zone)


def reply_candidates(*, subject: str, text: str, sent_at: datetime, partner_timezone: str, language: str) -> list[dict]:
    """Folio candidates (subject and text) then ETA candidates (text), at most MAX_CANDIDATES."""
    folios = folio_candidates(f"{subject}\n{text}")
    etas = eta_candidates(text, sent_at=sent_at, partner_timezone=partner_timezone, language=language)
    return (folios + etas)[:MAX_CANDIDATES]
