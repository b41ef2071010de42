"""Inbound mail: reading a raw RFC 822 message, telling auto-replies apart, finding its thread,
and making its HTML safe to show.

Parsing uses the standard library's `email` package with the modern policy, which decodes
encoded words and charsets. Nothing here writes; `cases.correspondence.inbound.store` stores the result.

Card numbers in a message (its headers, bodies and attachment names) are masked as it is read
(`payhealth.pan`): a partner's mail cannot be refused, so it is stored with `411111******1111`
instead, and `ParsedMessage.masked_card_numbers` says how many were masked.

Matching, in order: a Message-ID named in In-Reply-To, then in References (newest first), that
belongs to correspondence of an incident (→ its incident and partner thread); then the subject
token `[PH-YYYY-NNNNNN]` (→ the incident, and the partner thread when the sender is a contact of
an engaged partner, or shares its mail domain with the contacts of exactly one); else nothing,
and the message waits in the triage inbox.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

import nh3
from django.utils.safestring import SafeString, mark_safe

from cases.correspondence.email import message_id as email_message_id
from payhealth.pan import mask_card_numbers

SUBJECT_TOKEN = re.compile(r"\[(PH-\d{4}-\d{6})\]")
MESSAGE_ID = re.compile(r"<[^<>\s]+>")
FIELD_LENGTH = 255  # Message-ID, In-Reply-To, file names
SUBJECT_LENGTH = 300
ADDRESS_LENGTH = 254

# RFC 3834 and what mail servers and out-of-office robots actually send.
AUTO_PRECEDENCE = {"bulk", "junk", "auto_reply"}
AUTO_HEADERS = ("X-Autoreply", "X-Autorespond")
ROBOT_SENDERS = {"mailer-daemon", "postmaster"}

# What may survive of a partner's HTML: text formatting and tables. No scripts or styles (dropped
# with their content), no event handlers, no style attributes, no images (a remote image tells
# the sender who read the mail and when), links only to http(s) and mailto.
ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small", "span",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}
URL_SCHEMES = {"http", "https", "mailto"}


class InboundParseError(ValueError):
    """The bytes are not a mail message we can store (empty, no headers, no sender)."""


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass
class ParsedMessage:
    message_id: str
    from_address: str
    sender_email: str  # the bare address, lower case
    to_addresses: list[str]
    cc_addresses: list[str]
    subject: str
    in_reply_to: str
    references: list[str]
    body_text: str
    body_html: str
    language: str
    is_auto_reply: bool
    attachments: list[ParsedAttachment] = field(default_factory=list)
    masked_card_numbers: int = 0
    sent_at: datetime | None = None  # the Date header; None when absent or unreadable


def sanitise_html(html: str) -> SafeString:
    """A partner's HTML reduced to inert formatting, safe to put in a page as is."""
    cleaned = nh3.clean(
        html or "",
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style", "title"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return mark_safe(cleaned)  # noqa: S308 - sanitised by nh3 just above


def _header(message: EmailMessage, name: str) -> str:
    """A header as text, one line; a header too broken to decode counts as absent."""
    try:
        value = message.get(name)
    except (ValueError, IndexError, TypeError):  # the header parser's errors on malformed input
        return ""
    return " ".join(str(value).replace("\x00", "").split()) if value is not None else ""


def _addresses(message: EmailMessage, name: str) -> list[str]:
    try:
        values = message.get_all(name) or []
        pairs = getaddresses([str(value) for value in values])
    except (ValueError, IndexError, TypeError):
        return []
    return [address.lower() for _name, address in pairs if "@" in address and len(address) <= ADDRESS_LENGTH]


def message_ids(value: str) -> list[str]:
    """The `<id>`s of an In-Reply-To or References header, in order, each once."""
    return list(dict.fromkeys(item for item in MESSAGE_ID.findall(value or "") if len(item) <= FIELD_LENGTH))


def _text_of(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, KeyError):  # an unknown or lying charset
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return content.replace("\x00", "") if isinstance(content, str) else ""  # PostgreSQL text takes no NUL


def _bytes_of(part: EmailMessage) -> bytes:
    payload = part.get_payload()
    if isinstance(payload, list):  # message/rfc822, message/delivery-status: keep them as sent
        return b"\n".join(item.as_bytes(policy=policy.SMTP) for item in payload)
    return part.get_payload(decode=True) or b""


def _leaves(part: EmailMessage):
    if part.get_content_maintype() == "multipart":
        for child in part.iter_parts():
            yield from _leaves(child)
    else:
        yield part


def _clean_filename(name: str | None, content_type: str, number: int) -> str:
    name = " ".join((name or "").replace("\\", "/").rsplit("/", 1)[-1].split())
    name = "".join(character for character in name if character.isprintable()).strip(". ")
    if not name:
        extension = ".eml" if content_type == "message/rfc822" else mimetypes.guess_extension(content_type) or ".bin"
        name = f"attachment-{number}{extension}"
    if len(name) > FIELD_LENGTH:
        stem, dot, extension = name.rpartition(".")
        keep = FIELD_LENGTH - len(extension) - 1 if dot and len(extension) <= 10 else FIELD_LENGTH
        name = f"{name[:keep]}.{extension}" if keep < FIELD_LENGTH else name[:FIELD_LENGTH]
    return name


# Dates outside these years are a broken clock or a forgery, never a reply to one of our notices.
DATE_YEARS = range(1990, 2200)


def header_date(value: str) -> datetime | None:
    """The instant of a Date header (RFC 5322), in UTC; None for anything unreadable or absurd."""
    if not value or len(value) > 200:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.year not in DATE_YEARS:
        return None
    if parsed.tzinfo is None:  # "-0000": the zone is unknown; RFC 5322 says read it as UTC
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def is_auto_reply(message: EmailMessage, sender_email: str) -> bool:
    """Out-of-office answers, bounces and other robots (RFC 3834, RFC 3464, common practice)."""
    auto_submitted = _header(message, "Auto-Submitted").lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return True
    if any(message.get(name) is not None for name in AUTO_HEADERS):
        return True
    if _header(message, "Precedence").lower() in AUTO_PRECEDENCE:
        return True
    if message.get_content_type() == "multipart/report":
        return True
    if any(part.get_content_type() == "message/delivery-status" for part in _leaves(message)):
        return True
    return sender_email.partition("@")[0] in ROBOT_SENDERS


def parse_message(raw: bytes) -> ParsedMessage:
    """Read a raw RFC 822 message; raises InboundParseError when it is not one."""
    if not raw or not raw.strip():
        raise InboundParseError("the message is empty")
    message = BytesParser(policy=policy.default).parsebytes(raw)
    if not message.keys():
        raise InboundParseError("the message has no headers")
    from_address = _header(message, "From")
    sender_email = parseaddr(from_address)[1].lower()
    if "@" not in sender_email:
        raise InboundParseError("the message has no From address")

    message_id = (message_ids(_header(message, "Message-ID")) or [""])[0]
    if not message_id:
        # No usable Message-ID: derive one from the bytes, so the same message is still stored once.
        message_id = email_message_id("sha256", hashlib.sha256(raw).hexdigest(), domain="inbound.payhealth")
    in_reply_to = (message_ids(_header(message, "In-Reply-To")) or [""])[0]

    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    body_parts = {id(part) for part in (text_part, html_part) if part is not None}
    attachments = []
    for number, part in enumerate(_leaves(message), start=1):
        if id(part) in body_parts:
            continue
        content_type = part.get_content_type()
        try:
            filename = part.get_filename()
        except (ValueError, IndexError, TypeError):
            filename = None
        attachments.append(
            ParsedAttachment(
                filename=_clean_filename(filename, content_type, number),
                content_type=content_type[:FIELD_LENGTH],
                content=_bytes_of(part),
            )
        )

    language = _header(message, "Content-Language").lower()
    return _without_card_numbers(
        ParsedMessage(
            message_id=message_id,
            from_address=from_address[:ADDRESS_LENGTH],
            sender_email=sender_email,
            to_addresses=_addresses(message, "To"),
            cc_addresses=_addresses(message, "Cc"),
            subject=_header(message, "Subject").strip()[:SUBJECT_LENGTH],  # folded encoded words leave a space
            in_reply_to=in_reply_to,
            references=message_ids(_header(message, "References")),
            body_text=_text_of(text_part) if text_part is not None else "",
            body_html=_text_of(html_part) if html_part is not None else "",
            language="es" if language.startswith("es") else "en",
            is_auto_reply=is_auto_reply(message, sender_email),
            attachments=attachments,
            sent_at=header_date(_raw_header(message, "Date")),
        )
    )


def _raw_header(message: EmailMessage, name: str) -> str:
    """A header's text as sent, not parsed by the policy (a broken Date must not raise here);
    empty when absent or given more than once (which of two Dates would be true?)."""
    values = [value for header_name, value in message.raw_items() if header_name.lower() == name.lower()]
    if len(values) != 1:
        return ""
    return " ".join(str(values[0]).replace("\x00", "").split())


# What of a message is text someone wrote, or could have: everything stored but the attachments' bytes.
_TEXT_FIELDS = (
    "message_id",
    "from_address",
    "sender_email",
    "to_addresses",
    "cc_addresses",
    "subject",
    "in_reply_to",
    "references",
    "body_text",
    "body_html",
)


def _without_card_numbers(parsed: ParsedMessage) -> ParsedMessage:
    """The message with every card number in its texts and attachment names masked, counted."""
    changes, count = {}, 0
    for name in _TEXT_FIELDS:
        changes[name], masked = mask_card_numbers(getattr(parsed, name))
        count += masked
    attachments = []
    for item in parsed.attachments:
        filename, in_name = mask_card_numbers(item.filename)
        content_type, in_type = mask_card_numbers(item.content_type)
        attachments.append(replace(item, filename=filename, content_type=content_type))
        count += in_name + in_type
    return replace(parsed, **changes, attachments=attachments, masked_card_numbers=count)
