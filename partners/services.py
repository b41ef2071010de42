"""Writes for the partners app: one function per business action (STYLE.md "Domain logic")."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from partners.models import Language, NoticeTemplate
from partners.notices import notice_template_errors


@transaction.atomic
def notice_template_save(*, actor, kind: str, language: str, subject: str, body: str) -> NoticeTemplate:
    """Save a template text as the next active version of its kind and language.

    Refused, with the line and the reason, when it does not compile, names a variable outside
    the allowed context or cannot render: a broken template is found here, never at send time.
    Versions are append-only, so a sent notice keeps pointing at the text it used; saving the
    active text unchanged creates nothing.
    """
    if not (actor.has_perm("partners.add_noticetemplate") and actor.has_perm("partners.change_noticetemplate")):
        raise PermissionDenied(_("Only partner managers and leads can edit notice templates."))
    errors: dict[str, list[str]] = {}
    if kind not in NoticeTemplate.Kind.values:
        errors["kind"] = [_("Unknown notice kind %(kind)s.") % {"kind": kind}]
    if language not in Language.values:
        errors["language"] = [_("Unknown language %(language)s.") % {"language": language}]
    subject = (subject or "").strip()
    body = (body or "").replace("\r\n", "\n").strip("\n") + "\n"
    errors.update(notice_template_errors(subject=subject, body=body))
    if errors:
        raise ValidationError(errors, code="invalid_template")
    # Lock every version of this kind and language, so two saves queue instead of racing; the
    # very first version of a pair is still guarded by noticetemplate_unique_version.
    versions = list(NoticeTemplate.objects.select_for_update().filter(kind=kind, language=language))
    active = next((version for version in versions if version.active), None)
    if active is not None and (active.subject, active.body) == (subject, body):
        return active
    NoticeTemplate.objects.filter(pk__in=[version.pk for version in versions if version.active]).update(active=False)
    template = NoticeTemplate(
        kind=kind,
        language=language,
        version=max((version.version for version in versions), default=0) + 1,
        subject=subject,
        body=body,
        active=True,
        author=actor,
    )
    template.full_clean()
    template.save()
    return template
