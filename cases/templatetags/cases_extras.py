"""Template filters of the cases pages: sanitised Markdown, readable timeline sentences, rates."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from cases.markdown import render_markdown
from cases.models import CaseEvent
from cases.models.incident import CardNetwork
from cases.timeline.sentences import label, person, sentence, share_as_percent
from payhealth.i18n import country_name

register = template.Library()
Kind = CaseEvent.Kind


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Render a note's Markdown as sanitised HTML (cases.markdown)."""
    return mark_safe(render_markdown(text))  # sanitised by nh3 in render_markdown


register.filter("share_as_percent", share_as_percent)
register.filter("person", person)
register.filter("country_name", country_name)  # "MX" → "México" in Spanish, "Mexico" in English


@register.filter
def card_network(value: str) -> str:
    """A card network code as its name: "amex" → "American Express"."""
    return label(CardNetwork, value)


@register.filter
def event_sentence(event: CaseEvent) -> SafeString:
    """One readable, translated sentence per timeline event (cases.timeline.sentences)."""
    return sentence(event)


@register.filter
def timeline_entry(event: CaseEvent) -> SafeString:
    """One `<li>` of the timeline: when (viewer's zone), the sentence, and an edited note's old text.

    Built here rather than in the template because a timeline has hundreds of rows and this
    is the page's hot loop (the page must stay fast with 200 events; bench/queue.py measures it).
    """
    when = formats.date_format(timezone.localtime(event.created_at), "SHORT_DATETIME_FORMAT")
    previous = ""
    if event.kind == Kind.NOTE_EDITED and (event.data or {}).get("previous"):
        previous = format_html(
            '<details class="previous"><summary>{}</summary><div class="muted">{}</div></details>',
            _("Previous text"),
            linebreaksbr(event.data["previous"], autoescape=True),
        )
    return format_html(
        '<li class="event event-{}"><time datetime="{}">{}</time><p>{}</p>{}</li>',
        event.kind,
        event.created_at.isoformat(),
        when,
        event_sentence(event),
        previous,
    )
