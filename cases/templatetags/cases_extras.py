"""Template filters of the cases pages: sanitised Markdown, readable timeline sentences, rates."""

from __future__ import annotations

import html
from urllib.parse import quote

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.template.defaultfilters import floatformat, linebreaksbr
from django.template.defaulttags import CsrfTokenNode
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from cases.markdown import render_markdown
from cases.models import AffectedMerchant, CaseEvent
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
    # format_html's escaping, without its lazy-argument checks per value: 200 rows a page.
    return mark_safe(  # every value is escaped
        f'<li class="event event-{_esc(event.kind)}"><time datetime="{_esc(event.created_at.isoformat())}">'
        f"{_esc(when)}</time><p>{_esc(event_sentence(event))}</p>{previous}</li>"
    )


def _esc(value) -> str:
    """What `{{ value }}` writes (django.utils.html.conditional_escape): a safe string as it is,
    anything else escaped; without the lazy-argument checks, for the rows written in Python."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


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


@register.simple_tag(takes_context=True)
def merchant_row(context, row, incident) -> SafeString:
    """One affected merchant's row of the incident page (not the one being edited), as the
    template wrote it: twenty rows of links, forms and figures were a fifth of the page's time.
    Every value is escaped as `{{ value }}` would, and the figures use the template's filters."""
    perms = context.get("perms")
    labels = _merchant_row_labels()
    merchant = row.merchant
    name = _esc(merchant.name)
    made = _merchant_row_urls(context, incident)
    edit_url = _esc(made["edit"] % row.pk)
    csrf = made["csrf"]
    drop = ""
    if row.rate_drop_pp is not None:
        drop = _("%(drop)s pp") % {"drop": _esc(floatformat(row.rate_drop_pp, 2))}
        drop = f'\n          <div class="small rate-drop">{drop}</div>'
    excess = _esc(intcomma(row.excess_declines)) if row.excess_declines is not None else "—"
    actions = []
    if perms and "cases.change_affectedmerchant" in perms:
        edit = _("Edit %(merchant)s") % {"merchant": name}
        actions.append(
            f'<a href="{edit_url}" hx-get="{edit_url}" hx-target="#incident-merchants" hx-swap="outerHTML"'
            f' aria-label="{edit}">{labels["edit"]}</a>'
        )
    if perms and "cases.delete_affectedmerchant" in perms:
        remove_url = _esc(made["remove"] % row.pk)
        confirm = _("Remove %(merchant)s from this incident?") % {"merchant": name}
        actions.append(
            f'<form method="post" action="{remove_url}" hx-post="{remove_url}" hx-target="#incident-merchants"'
            f' hx-swap="outerHTML"\n                hx-confirm="{confirm}">\n            {csrf}\n'
            f'            <button type="submit" class="linkbutton danger">{labels["remove"]}</button>\n'
            "          </form>"
        )
    if perms and "cases.add_correspondence" in perms and merchant.account_manager_email:
        account_url = _esc(made["account"] % row.pk)
        manager = _esc(merchant.account_manager or merchant.account_manager_email)
        title = _("Internal update for the account team (%(manager)s)") % {"manager": manager}
        actions.append(
            f'<form method="post" action="{account_url}">\n            {csrf}\n'
            f'            <button type="submit" class="linkbutton" title="{title}">{labels["account_team"]}</button>\n'
            "          </form>"
        )
    actions_html = "\n          ".join(actions)
    detail_url = made["merchant"] % quote(merchant.account_id, safe="")
    baseline = _esc(share_as_percent(row.baseline_rate) or "—")
    observed = _esc(share_as_percent(row.observed_rate) or "—")
    failed = _("%(failed)s failed") % {"failed": _esc(intcomma(row.failed_attempts))}
    definition = _esc(label(AffectedMerchant.RateDefinition, row.rate_definition))
    return mark_safe(  # every value above is escaped
        f'<tr id="merchant-row-{row.pk}">\n'
        f'        <th scope="row"><a href="{_esc(detail_url)}">{name}</a>\n'
        f'          <div class="muted mono small">{_esc(merchant.account_id)}</div>\n'
        f'          <div class="muted small">{definition}</div></th>\n'
        f'        <td class="num" data-label="{labels["approval_rate"]}">{baseline} → {observed}{drop}</td>\n'
        f'        <td class="num" data-label="{labels["attempts"]}">{_esc(intcomma(row.attempts))}\n'
        f'          <div class="small muted">{failed}</div></td>\n'
        f'        <td class="num" data-label="{labels["excess"]}">{excess}</td>\n'
        f'        <td class="num" data-label="{labels["volume"]}">{_esc(floatformat(row.volume_at_risk, "2g"))}'
        f" {_esc(row.currency)}</td>\n"
        f'        <td class="row-actions">\n          {actions_html}\n        </td>\n'
        "      </tr>"
    )


_URL_MARK = "2147483646"  # a row id no table reaches, replaced by each row's own


def _merchant_row_urls(context, incident) -> dict[str, str]:
    """The merchant rows' addresses as `%`-templates for a row id (an account id for the merchant's
    page) and the CSRF field, worked out once per page render: `reverse` per row and link cost
    more than the rest of the row. The other parts of each address are the incident's."""
    key = ("merchant_row_urls", incident.reference)
    made = context.render_context.get(key)
    if made is None:

        def template(name: str, *args) -> str:
            head, tail = reverse(name, args=[*args, _URL_MARK]).rsplit(_URL_MARK, 1)
            return f"{head.replace('%', '%%')}%s{tail.replace('%', '%%')}"

        made = {
            "edit": template("cases:incident_merchant_edit", incident.reference),
            "remove": template("cases:incident_merchant_remove", incident.reference),
            "account": template("cases:incident_account_update", incident.reference),
            "merchant": template("cases:merchant_detail"),
            "csrf": CsrfTokenNode().render(context),
        }
        context.render_context[key] = made
    return made


def _merchant_row_labels() -> dict[str, str]:
    """The merchant rows' fixed words in the active language, escaped (looked up once per language)."""
    language = get_language()
    labels = _MERCHANT_ROW_LABELS.get(language)
    if labels is None:
        labels = {
            "approval_rate": _("Approval rate"),
            "attempts": _("Attempts"),
            "excess": _("Excess declines"),
            "volume": _("Volume at risk"),
            "edit": _("Edit"),
            "remove": _("Remove"),
            "account_team": _("Update the account team"),
        }
        labels = _MERCHANT_ROW_LABELS[language] = {key: _esc(value) for key, value in labels.items()}
    return labels


_MERCHANT_ROW_LABELS: dict[str, dict[str, str]] = {}
