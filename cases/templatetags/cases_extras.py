"""Template filters of the cases pages: sanitised Markdown, readable timeline sentences, rates."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import linebreaksbr
from django.utils import formats, timezone
from django.utils.html import conditional_escape, format_html
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


# As the template's {{ value }} escapes: safe strings as they are, the rest escaped.
_esc = conditional_escape


def _sla_cell(incident_id: int, badge) -> str:
    """The queue's SLA cell, as `cases/_sla.html#queue_cell` writes it (that partial stays the
    polling endpoint's)."""
    if badge is None:
        inner = '<span class="muted">—</span>'
    else:
        label = _esc(badge.label)
        inner = (
            f'<span class="sla-badge sla-{_esc(badge.level)}" title="{label}: {_esc(badge.title)}">'
            f'<span class="sla-label">{label}</span> <span class="sla-left">{_esc(badge.text)}</span></span>'
        )
    return f'<span id="sla-badge-{incident_id}" class="sla-cell">{inner}</span>'


def _names(cell: dict) -> str:
    if not cell["first"]:
        return '<span class="muted">—</span>'
    more = f' <span class="more">+{cell["more"]}</span>' if cell["more"] else ""
    return f"{_esc(cell['first'])}{more}"


@register.simple_tag
def queue_rows(incidents, shown: dict, can_change: bool, selected_ids=None) -> SafeString:
    """The queue's table rows, from what `cases.views.queue._prepare_rows` worked out.

    Up to 100 rows of up to a dozen cells: written by the template, the rows were half of a queue
    page's CPU (a variable node, a filter and an `if` per cell). Every value is escaped here.
    """
    unassigned = _esc(_("Unassigned"))
    rows = []
    for incident in incidents:
        pk = incident.pk
        cells = []
        if can_change:
            checked = " checked" if selected_ids and str(pk) in selected_ids else ""
            cells.append(
                f'<td class="select"><input type="checkbox" name="incident" value="{pk}"'
                f' aria-label="{_esc(incident.select_label)}"{checked}></td>'
            )
        title = _esc(incident.title)
        cells.append(
            f'<td class="mono reference"><a href="{_esc(incident.url)}">{_esc(incident.reference)}</a></td>'
            f'<td class="title" title="{title}">{title}</td>'
        )
        if shown.get("severity"):
            cells.append(
                f'<td class="severity"><span class="badge sev-{_esc(incident.severity)}"'
                f' title="{_esc(incident.severity_label)}">{_esc(incident.severity_short)}'
                f'<span class="visually-hidden">{_esc(incident.severity_rest)}</span></span></td>'
            )
        if shown.get("status"):
            cells.append(
                f'<td class="status"><span class="badge status-{_esc(incident.status)}">'
                f"{_esc(incident.status_label)}</span></td>"
            )
        if shown.get("sla"):
            cells.append(f'<td class="sla">{_sla_cell(pk, getattr(incident, "sla_badge", None))}</td>')
        if shown.get("category"):
            category = _esc(incident.category_label)
            cells.append(f'<td class="category" title="{category}">{category}</td>')
        if shown.get("owner"):
            if incident.owner_label:
                owner = _esc(incident.owner_label)
                cells.append(f'<td class="owner" title="{owner}">{owner}</td>')
            else:
                cells.append(f'<td class="owner"><span class="muted">{unassigned}</span></td>')
        for column in ("partners", "merchants"):
            if shown.get(column):
                cell = getattr(incident, f"{column}_cell")
                title = f' title="{_esc(cell["all"])}"' if cell["more"] else ""
                cells.append(f'<td class="names"{title}>{_names(cell)}</td>')
        created = f'<time datetime="{_esc(incident.created_iso)}">'
        if shown.get("opened"):
            cells.append(f'<td class="date">{created}{_esc(incident.created_display)}</time></td>')
        if shown.get("age"):
            cells.append(
                f'<td class="age" title="{_esc(incident.created_display)}">{created}{_esc(incident.age)}</time></td>'
            )
        if shown.get("updated"):
            cells.append(
                f'<td class="updated" title="{_esc(incident.updated_display)}">'
                f'<time datetime="{_esc(incident.updated_iso)}">{_esc(incident.updated_ago)}</time></td>'
            )
        rows.append(f'<tr id="incident-{pk}">\n{"".join(cells)}\n</tr>')
    return mark_safe("\n".join(rows))  # every value above is escaped
