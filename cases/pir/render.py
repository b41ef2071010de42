"""The report as HTML and as PDF: one template for the report's body, shown inside the desk's page
or inside a print document that WeasyPrint turns into a PDF with the print style sheet."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.template.loader import render_to_string
from django.utils import translation

from cases.pir.report import PostIncidentReport

PRINT_TEMPLATE = "cases/pir/report_print.html"
STYLE_SHEET = "css/pir.css"


def _style_sheet() -> str:
    found = finders.find(STYLE_SHEET) or Path(settings.BASE_DIR) / "static" / STYLE_SHEET
    return Path(found).read_text(encoding="utf-8")


def report_print_html(report: PostIncidentReport) -> str:
    """The standalone document the PDF is made from (no request, no URL; its style sheet is given
    to WeasyPrint beside it, so no template holds inline style)."""
    with translation.override(report.language):
        return render_to_string(PRINT_TEMPLATE, {"report": report})


def report_pdf(report: PostIncidentReport) -> bytes:
    """The report as a PDF (A4, the print rules of the style sheet)."""
    from weasyprint import CSS, HTML  # imported here: loading pango costs time every page does not need

    style = CSS(string=_style_sheet(), url_fetcher=_no_fetch)
    return HTML(string=report_print_html(report), url_fetcher=_no_fetch).write_pdf(stylesheets=[style])


def _no_fetch(url: str, *args, **kwargs):
    """The document is self-contained: nothing is ever fetched while rendering it."""
    raise ValueError(f"the report fetches nothing ({url[:40]})")
