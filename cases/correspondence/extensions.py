"""What apps above `cases` add to partner notices, without `cases` importing them.

An app registers, from its `AppConfig.ready()`:

- a context provider: the value of one name of the notice context (the names a template may use
  are `partners.notices.CONTEXT_SCHEMA`), read once per incident and language when notices are
  composed, for each partner it concerns. A partner it says nothing about gets `empty()`; a kind
  listed in `required_for` is not drafted for such a partner (it is reported as skipped with
  `missing_reason`). `categories` limits it to incidents of those categories, so every other
  compose costs nothing;
- an attachment provider: the files a notice of a kind carries, made when the notice is drafted and
  stored with it (`cases.Attachment`), so the text a lead approves and the mail delivered carry the
  same file.

Providers return plain values (the context is a sandbox: dicts, lists, strings, numbers and
booleans only) and must not write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cases.models import Incident, PartnerEngagement


@dataclass(frozen=True)
class NoticeFile:
    """One file a notice carries."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class ContextProvider:
    name: str
    # (incident, language) → {partner id: the value of `name` for that partner's notice}
    read: Callable[[Incident, str], Mapping[int, dict]]
    empty: Callable[[], dict]
    categories: tuple[str, ...] = ()
    required_for: tuple[str, ...] = ()
    missing_reason: object = ""  # a lazy text, formatted with %(partner)s


@dataclass(frozen=True)
class AttachmentProvider:
    name: str
    kinds: tuple[str, ...]
    # (engagement, kind, language) → the files of that partner's notice
    make: Callable[[PartnerEngagement, str, str], Iterable[NoticeFile]]
    categories: tuple[str, ...] = field(default=())


_context_providers: dict[str, ContextProvider] = {}
_attachment_providers: dict[str, AttachmentProvider] = {}


def register_context_provider(provider: ContextProvider) -> None:
    """Add (or replace, by name: `ready()` may run twice in tests) a context provider."""
    _context_providers[provider.name] = provider


def register_attachment_provider(provider: AttachmentProvider) -> None:
    _attachment_providers[provider.name] = provider


def context_providers() -> list[ContextProvider]:
    return list(_context_providers.values())


def _applies(categories: tuple[str, ...], incident: Incident) -> bool:
    return not categories or incident.category in categories


def extension_values(incident: Incident, language: str) -> dict[str, Mapping[int, dict]]:
    """Each provider's values for the incident's partners, in `language` (one read per provider)."""
    return {
        provider.name: provider.read(incident, language) if _applies(provider.categories, incident) else {}
        for provider in _context_providers.values()
    }


def extension_context(values: Mapping[str, Mapping[int, dict]], partner_id: int) -> dict:
    """The names the providers add to one partner's notice context."""
    context = {}
    for provider in _context_providers.values():
        value = values.get(provider.name, {}).get(partner_id)
        context[provider.name] = value if value is not None else provider.empty()
    return context


def missing_for_kind(values: Mapping[str, Mapping[int, dict]], *, kind: str, partner_id: int):
    """The reason (a lazy text) a notice of `kind` cannot be drafted for the partner, or None."""
    for provider in _context_providers.values():
        if kind in provider.required_for and values.get(provider.name, {}).get(partner_id) is None:
            return provider.missing_reason
    return None


def notice_files(engagement: PartnerEngagement, *, kind: str, language: str) -> list[NoticeFile]:
    """The files the providers attach to a notice of `kind` for this partner."""
    files: list[NoticeFile] = []
    for provider in _attachment_providers.values():
        if kind in provider.kinds and _applies(provider.categories, engagement.incident):
            files.extend(provider.make(engagement, kind, language))
    return files
