"""What the incident's sample transactions add to partner notices, through the extension points.

A breakage notice or an update to a partner carries a CSV of the incident's samples for that
partner and those for every partner (`cases.services.samples`), its header in the notice's
language; no samples, no file. The file is made when the notice is drafted and stored with it.
The `account` name of the notice context (the internal update to a merchant's account team) is
empty in every partner notice. Registered by `CasesConfig.ready()`.
"""

from __future__ import annotations

from cases.correspondence.extensions import (
    AttachmentProvider,
    ContextProvider,
    NoticeFile,
    register_attachment_provider,
    register_context_provider,
)
from cases.models import PartnerEngagement
from cases.services.samples import samples_csv, samples_filename, samples_for_engagement
from partners.models import NoticeTemplate
from partners.notices import EMPTY_ACCOUNT

KINDS = (NoticeTemplate.Kind.BREAKAGE, NoticeTemplate.Kind.UPDATE)


def _files(engagement: PartnerEngagement, kind: str, language: str) -> list[NoticeFile]:
    samples = samples_for_engagement(engagement)
    if not samples:
        return []
    content = samples_csv(samples, language=language)
    return [NoticeFile(samples_filename(engagement.incident, language), "text/csv; charset=utf-8", content)]


def register() -> None:
    register_attachment_provider(AttachmentProvider(name="sample_transactions", kinds=KINDS, make=_files))
    register_context_provider(
        ContextProvider(name="account", read=lambda incident, language: {}, empty=lambda: dict(EMPTY_ACCOUNT))
    )
