"""Sample transactions of an incident: uploaded as a CSV by an analyst, removed, and written back
as the CSV a partner's notice carries.

PayHealth's payment data (`monitoring`) holds aggregate buckets only, never one authorization,
so samples are never taken from it: an analyst picks them from the processor's own tools and
uploads them here.

A file is read whole before anything is stored, and refused whole with every problem named by
its line and column: nothing is half-written. A file holding a full card number anywhere (any
cell, known column or not, the header included: `payhealth.pan`) is refused naming the line,
and the number is never echoed back, stored or logged. No message quotes a cell's value. The
card column takes the first 6–8 digits and the last 4 at most, with the middle masked
(`415231******1234`, `415231XXXXXX1234`), and is stored with `*`.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cases import timeline
from cases.models import AffectedMerchant, Incident, PartnerEngagement, SampleTransaction
from cases.timeline.events import SamplesRemoved, SamplesUploaded
from payhealth.pan import contains_card_number, masked

# The columns, in the order of the CSV a notice carries: (field, English header, Spanish header).
COLUMNS = (
    ("occurred_at", gettext_lazy("date_time"), "fecha_hora"),
    ("amount", gettext_lazy("amount"), "monto"),
    ("currency", gettext_lazy("currency"), "moneda"),
    ("card", gettext_lazy("card"), "tarjeta"),
    ("rrn", gettext_lazy("rrn"), "rrn"),
    ("stan", gettext_lazy("stan"), "stan"),
    ("auth_code", gettext_lazy("auth_code"), "codigo_autorizacion"),
    ("response_code", gettext_lazy("response_code"), "codigo_respuesta"),
    ("terminal_id", gettext_lazy("terminal_id"), "terminal"),
    ("entry_mode", gettext_lazy("entry_mode"), "modo_entrada"),
    ("merchant", gettext_lazy("merchant"), "comercio"),
    ("partner", gettext_lazy("partner"), "socio"),
)
REQUIRED = ("occurred_at", "amount", "currency")
# Header names a file may use for each column (compared without case, accents, spaces or punctuation).
ALIASES = {
    "occurred_at": ("date_time", "datetime", "date/time", "timestamp", "time", "fecha_hora", "fecha/hora", "fecha"),
    "amount": ("amount", "monto", "importe"),
    "currency": ("currency", "moneda", "divisa"),
    "card": ("card", "masked_card", "pan", "tarjeta"),
    "rrn": ("rrn", "retrieval_reference_number", "referencia"),
    "stan": ("stan", "trace", "system_trace_audit_number"),
    "auth_code": ("auth_code", "authorization_code", "approval_code", "codigo_autorizacion", "autorizacion"),
    "response_code": ("response_code", "codigo_respuesta", "respuesta"),
    "terminal_id": ("terminal_id", "tid", "terminal"),
    "entry_mode": ("entry_mode", "pos_entry_mode", "modo_entrada", "modo_de_entrada"),
    "merchant": ("merchant", "comercio"),
    "partner": ("partner", "socio"),
}
_CARD = re.compile(r"^([0-9]{6,8})([*xX•·.#]{1,9})([0-9]{4})$")
_FIELD_RULES = {
    "rrn": (re.compile(r"^[A-Za-z0-9]{1,12}$"), gettext_lazy("an RRN has 1 to 12 letters or digits.")),
    "stan": (re.compile(r"^[0-9]{1,6}$"), gettext_lazy("a STAN has 1 to 6 digits.")),
    "auth_code": (
        re.compile(r"^[A-Za-z0-9]{1,6}$"),
        gettext_lazy("an authorization code has 1 to 6 letters or digits."),
    ),
    "response_code": (
        re.compile(r"^[A-Za-z0-9]{1,4}$"),
        gettext_lazy("a response code has 1 to 4 letters or digits."),
    ),
    "terminal_id": (re.compile(r"^[A-Za-z0-9]{1,16}$"), gettext_lazy("a terminal ID has 1 to 16 letters or digits.")),
    "entry_mode": (
        re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _-]{0,19}$"),
        gettext_lazy("an entry mode has up to 20 letters, digits, spaces, dashes or underscores."),
    ),
}
MAX_AMOUNT = Decimal("9999999999999.99")
MAX_ERRORS = 50
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


_BY_ALIAS = {_key(alias): field for field, aliases in ALIASES.items() for alias in aliases}


def column_label(field: str, language: str | None = None) -> str:
    """The column's header in `language` (the active one by default): "amount", "monto"."""
    language = language or translation.get_language() or "en"
    for name, english, spanish in COLUMNS:
        if name == field:
            return spanish if language.startswith("es") else str(english)
    return field


@dataclass
class _Problems:
    messages: list[str]

    def add(self, line: int, column: str | None, reason: str) -> None:
        if len(self.messages) >= MAX_ERRORS:
            return
        if column is None:
            self.messages.append(_("Line %(line)s: %(reason)s") % {"line": line, "reason": reason})
        else:
            self.messages.append(
                _("Line %(line)s, column %(column)s: %(reason)s") % {"line": line, "column": column, "reason": reason}
            )


def _refuse(messages: list[str] | str) -> ValidationError:
    return ValidationError({"file": messages if isinstance(messages, list) else [messages]}, code="invalid")


def samples_check_size(size: int) -> None:
    """Refuse a file over PAYHEALTH_SAMPLES_MAX_BYTES before it is read (pages and API)."""
    if size > settings.PAYHEALTH_SAMPLES_MAX_BYTES:
        raise _refuse(_("The file is larger than %(kib)s KiB.") % {"kib": settings.PAYHEALTH_SAMPLES_MAX_BYTES // 1024})


def _decode(content: bytes) -> str:
    samples_check_size(len(content))
    if not content.strip():
        raise _refuse(_("The file is empty."))
    if b"\x00" in content:
        raise _refuse(_("This is not a CSV file (it holds binary data)."))
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return content.decode("cp1252", errors="replace")


def _occurred_at(value: str, reason: list[str]) -> datetime | None:
    text = value.strip().replace(" ", "T", 1) if "T" not in value else value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        reason.append(_("write the date and time as 2019-08-10T10:52:13-05:00 or 2019-08-10T15:52:13Z."))
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        reason.append(_("give the time zone (e.g. -05:00) or write the time in UTC with Z."))
        return None
    return moment


def _amount(value: str, reason: list[str]) -> Decimal | None:
    try:
        amount = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        reason.append(_("write the amount as a number, e.g. 1250.00."))
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        reason.append(_("the amount must be between 0 and 9,999,999,999,999.99."))
        return None
    if amount.as_tuple().exponent < -2:
        reason.append(_("the amount has more than two decimals."))
        return None
    return amount.quantize(Decimal("0.01"))


def _card(value: str, reason: list[str]) -> str | None:
    match = _CARD.match(value.strip())
    if match is None:
        reason.append(
            _("write the card as its first 6–8 digits, the masked middle and its last 4, e.g. 415231******1234.")
        )
        return None
    first, middle, last = match.groups()
    return f"{first}{'*' * len(middle)}{last}"


class _Lookups:
    """The incident's engaged partners and affected merchants, by the names a file may use."""

    def __init__(self, incident: Incident) -> None:
        self.partners: dict[str, PartnerEngagement] = {}
        for engagement in PartnerEngagement.objects.filter(incident=incident).select_related("partner"):
            for name in (engagement.partner.code, engagement.partner.name):
                self.partners.setdefault(_key(name), engagement)
        self.merchants: dict[str, int] = {}
        for row in AffectedMerchant.objects.filter(incident=incident).select_related("merchant"):
            for name in (row.merchant.account_id, row.merchant.name):
                self.merchants.setdefault(_key(name), row.merchant_id)


def samples_parse(content: bytes, *, incident: Incident) -> list[SampleTransaction]:
    """The file's rows as unsaved samples of `incident`, or a ValidationError on `file` listing
    every problem by line and column. Reads the whole file before answering."""
    text = _decode(content)
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise _refuse(_("The file cannot be read as CSV.")) from None
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    problems = _Problems([])
    # A card number anywhere refuses the file, with the line and never the number.
    lines_with_card_numbers = [number for number, row in enumerate(rows, start=1) if contains_card_number(row)]
    if lines_with_card_numbers:
        for number in lines_with_card_numbers:
            problems.add(
                number,
                None,
                _(
                    "it holds a full card number. Card numbers are never stored: keep the first 6–8 digits and "
                    "the last 4 at most."
                ),
            )
        raise _refuse(problems.messages)
    header, body = rows[0], rows[1:]
    columns: dict[str, int] = {}
    for index, name in enumerate(header):
        field = _BY_ALIAS.get(_key(name))
        if field is None:
            problems.add(
                1,
                str(index + 1),
                _("unknown column; the columns are %(columns)s.")
                % {"columns": ", ".join(column_label(f) for f, _en, _es in COLUMNS)},
            )
        elif field in columns:
            problems.add(1, column_label(field), _("the column appears twice."))
        else:
            columns[field] = index
    for field in REQUIRED:
        if field not in columns:
            problems.add(1, column_label(field), _("this column is required."))
    if problems.messages:
        raise _refuse(problems.messages)
    if not body:
        raise _refuse(_("The file has a header but no rows."))
    limit = settings.PAYHEALTH_SAMPLES_MAX_ROWS
    if len(body) > limit:
        raise _refuse(
            _("The file has %(rows)s rows; an incident keeps at most %(limit)s samples.")
            % {"rows": len(body), "limit": limit}
        )
    lookups = _Lookups(incident)
    samples = []
    for number, row in enumerate(body, start=2):
        if len(row) > len(header):
            problems.add(number, None, _("the row has more cells than the header."))
            continue
        sample = SampleTransaction(incident=incident, line=number)
        for field, index in columns.items():
            value = row[index].strip() if index < len(row) else ""
            reason: list[str] = []
            label = column_label(field)
            if not value:
                if field in REQUIRED:
                    problems.add(number, label, _("this value is required."))
                continue
            if field == "occurred_at":
                sample.occurred_at = _occurred_at(value, reason)
            elif field == "amount":
                sample.amount = _amount(value, reason)
            elif field == "currency":
                if re.fullmatch(r"[A-Za-z]{3}", value):
                    sample.currency = value.upper()
                else:
                    reason.append(_("write the currency as its three-letter code, e.g. MXN."))
            elif field == "card":
                sample.card = _card(value, reason) or ""
            elif field == "partner":
                engagement = lookups.partners.get(_key(value))
                if engagement is None:
                    reason.append(_("not a partner engaged on this incident (write its code or its name)."))
                else:
                    sample.engagement = engagement
            elif field == "merchant":
                merchant_id = lookups.merchants.get(_key(value))
                if merchant_id is None:
                    reason.append(_("not an affected merchant of this incident (write its account id or its name)."))
                else:
                    sample.merchant_id = merchant_id
            else:
                pattern, message = _FIELD_RULES[field]
                if pattern.match(value):
                    setattr(sample, field, value)
                else:
                    reason.append(str(message))
            for message in reason:
                problems.add(number, label, message)
        samples.append(sample)
    if problems.messages:
        raise _refuse(problems.messages)
    return samples


@transaction.atomic
def samples_upload(*, incident: Incident, actor, content: bytes, filename: str = "") -> list[SampleTransaction]:
    """Add the samples of a CSV file to the incident: all of them, or none (see the module)."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    samples = samples_parse(content, incident=locked)
    existing = SampleTransaction.objects.filter(incident=locked).count()
    limit = settings.PAYHEALTH_SAMPLES_MAX_ROWS
    if existing + len(samples) > limit:
        raise _refuse(
            _("The incident has %(existing)s samples and the file %(rows)s; an incident keeps at most %(limit)s.")
            % {"existing": existing, "rows": len(samples), "limit": limit}
        )
    now = timezone.now()
    person = actor if getattr(actor, "pk", None) else None
    for sample in samples:
        sample.uploaded_by, sample.uploaded_at = person, now
    SampleTransaction.objects.bulk_create(samples)  # every cell checked above: no card number, each value bounded
    partners = sorted({sample.engagement.partner.name for sample in samples if sample.engagement_id})
    if any(sample.engagement_id is None for sample in samples):
        partners.insert(0, "")
    name = masked(" ".join((filename or "").split()))[:120]
    uploaded = SamplesUploaded(count=len(samples), filename=name, partners=partners)
    timeline.record(uploaded, incident=locked, actor=actor, at=now)
    locked.save(update_fields=["updated_at"])
    return samples


@transaction.atomic
def samples_remove(*, incident: Incident, actor, ids: list[int] | None = None) -> int:
    """Remove the incident's samples of `ids`, or all of them (`ids=None`); returns how many."""
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    rows = SampleTransaction.objects.filter(incident=locked)
    if ids is not None:
        rows = rows.filter(pk__in=ids)
    count, _deleted = rows.delete()
    if not count:
        raise ValidationError(_("There are no such samples on this incident."), code="gone")
    removed = SamplesRemoved(count=count, all=ids is None)
    timeline.record(removed, incident=locked, actor=actor)
    locked.save(update_fields=["updated_at"])
    return count


def samples_for_engagement(engagement: PartnerEngagement) -> list[SampleTransaction]:
    """The samples a partner's notice carries: those for this partner and those for every partner."""
    return list(
        SampleTransaction.objects.filter(incident_id=engagement.incident_id)
        .filter(Q(engagement=engagement) | Q(engagement__isnull=True))
        .select_related("merchant", "engagement__partner")
        .order_by("occurred_at", "id")
    )


def _cell(value) -> str:
    text = " ".join(str(value).split())
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def samples_csv(samples: list[SampleTransaction], *, language: str) -> bytes:
    """The samples as a CSV, the header in `language`, times in UTC (ISO 8601 with Z)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column_label(field, language) for field, _en, _es in COLUMNS])
    for sample in samples:
        writer.writerow(
            [
                sample.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                f"{sample.amount:.2f}",
                sample.currency,
                sample.card,
                _cell(sample.rrn),
                _cell(sample.stan),
                _cell(sample.auth_code),
                _cell(sample.response_code),
                _cell(sample.terminal_id),
                _cell(sample.entry_mode),
                _cell(sample.merchant.name if sample.merchant_id else ""),
                _cell(sample.engagement.partner.name if sample.engagement_id else ""),
            ]
        )
    return out.getvalue().encode("utf-8")


def samples_filename(incident: Incident, language: str) -> str:
    stem = "transacciones-muestra" if language == "es" else "sample-transactions"
    return f"{stem}-{incident.reference}.csv"
