"""Every HTML page of the desk in real Chromium: it fits a phone (390×844) and passes axe-core in
English and Spanish, and fits a laptop (1440×900).

The inventory of pages (`PAGES`) is checked against the URL resolver: every pattern that answers
a signed-in lead with a whole HTML page is in it, so a new page without an entry fails
`test_the_inventory_covers_every_page`. Fragments for htmx, downloads and POST-only actions are
told apart by what the server answers; the few other patterns left out are in `NOT_PAGES`, each
with its reason.

The sweep logs in once per viewport and language and visits every page in that one tab; a failure
names each page that failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import reverse

from tests.e2e.a11y import AXE_SOURCE, BLOCKING, DESKTOP, PHONE, page_overflow, widest_elements
from tests.test_permission_matrix import (  # noqa: F401 - `world` is a fixture
    KWARG_VALUES,
    KWARG_VALUES_BY_ENDPOINT,
    world,
)
from tests.urlwalk import fill_url, url_patterns

pytestmark = [pytest.mark.slow]


@dataclass(frozen=True)
class Page:
    """One page of the inventory: its URL name, who opens it, and a query string when the bare URL
    is not the page worth seeing."""

    name: str
    public: bool = False  # opened without signing in (a link sent to a partner, the login page)
    query: str = ""

    def __str__(self) -> str:
        return self.name

    def url(self, data: dict, language: str = "en") -> str:
        if self.name == "cases:ack_page":
            from cases.correspondence.acklinks import ack_token

            notice = data["sent_notice"]
            path = reverse(self.name, args=[notice.incident.reference, ack_token(notice.ack_link)])
        else:
            path = fill_url(
                self.name,
                _kwarg_names(self.name),
                data,
                by_kwarg=KWARG_VALUES,
                by_endpoint=KWARG_VALUES_BY_ENDPOINT,
                where="tests/test_permission_matrix.py",
            )
        return f"{path}?{self.query.format(notice=data['notice'].pk, language=language)}" if self.query else path


def _kwarg_names(name: str) -> tuple[str, ...]:
    return next(kwargs for _, _, kwargs, full_name in _patterns() if full_name == name)


def _patterns():
    """Every URL pattern with its full name ("namespace:name"; the route for an unnamed one)."""
    for namespace, pattern, kwargs in url_patterns():
        name = pattern.name or str(pattern.pattern)
        yield namespace, pattern, kwargs, f"{namespace}:{name}" if namespace else name


PAGES = [
    Page("login", public=True),
    Page("cases:ack_page", public=True, query="lang={language}"),  # the partner's language switch
    Page("home"),
    Page("overview"),
    Page("profile"),
    Page("api_tokens"),
    Page("cases:incident_list"),
    Page("cases:incident_create"),
    Page("cases:incident_detail"),
    Page("cases:incident_details"),
    Page("cases:incident_note_edit"),
    Page("cases:incident_merchants"),
    Page("cases:incident_merchant_add"),
    Page("cases:incident_merchant_edit"),
    Page("cases:incident_engagements"),
    Page("cases:incident_engagement_add"),
    Page("cases:incident_engagement_edit"),
    Page("cases:incident_engagement_scope"),
    Page("cases:incident_followthrough"),
    Page("cases:incident_action_item_edit"),
    Page("cases:incident_samples"),
    Page("cases:incident_report"),
    Page("cases:incident_notices"),
    Page("cases:notice_compose"),
    Page("cases:notice_review", query="ids={notice}"),
    Page("cases:notice_edit", query="ids={notice}"),
    Page("cases:notice_approvals"),
    Page("cases:triage_inbox"),
    Page("cases:merchant_list"),
    Page("cases:merchant_detail"),
    Page("cases:sla_at_risk"),
    Page("cases:sla_policy_list"),
    Page("cases:sla_policy_create"),
    Page("cases:sla_policy_edit"),
    Page("cases:sla_report"),
    Page("partners:partner_list"),
    Page("partners:partner_detail"),
    Page("partners:calendar_list"),
    Page("partners:calendar_detail"),
    Page("partners:notice_template_list"),
    Page("partners:notice_template_edit"),
    Page("alerts:rule_list"),
    Page("alerts:rule_create"),
    Page("alerts:rule_edit"),
    Page("webhooks:subscription_list"),
    Page("webhooks:subscription_create"),
    Page("webhooks:subscription_detail"),
    Page("webhooks:subscription_edit"),
    Page("monitoring:monitor_list"),
    Page("monitoring:monitor_settings_pick"),
    Page("monitoring:monitor_settings_merchant"),
    Page("monitoring:finding_list"),
    Page("monitoring:finding_detail"),
    Page("monitoring:segment_detail"),
    Page("monitoring:upload_start"),
    Page("monitoring:upload_detail"),
    Page("costs:matrix"),
    Page("costs:finding_list"),
    Page("costs:finding_detail"),
    Page("costs:import_list"),
    Page("costs:import_upload"),
    Page("costs:import_detail"),
    Page("costs:mapping_list"),
    Page("costs:mapping_edit"),
    Page("costs:ratecard_index"),
    Page("costs:ratecard_create"),
    Page("costs:ratecard_detail"),
    Page("costs:ratecard_diff"),
    Page("costs:recovery_report"),
    Page("costs:rule_tester"),
    Page("costs:thresholds_index"),
    Page("costs:thresholds_edit"),
]

# URL patterns that are not pages of the desk, with the reason. (Fragments for htmx, downloads and
# POST-only actions need no entry: the inventory test tells them apart by the server's answer.)
NOT_PAGES = {
    "api": "the API answers JSON to machines; its Swagger UI and Redoc pages are third-party viewers in English"
    " only (tests/e2e/test_api_browser.py opens them)",
    "admin": "Django's own admin",
    "favicon.ico": "a redirect to the icon",
    "set_language": "the language switch: a redirect",
    "api_token_revoke": "POST-only; its pk is a token of the signed-in user (tests/api/test_tokens.py)",
}


def _left_out(name: str) -> bool:
    return name in NOT_PAGES or (name.split(":")[0] in NOT_PAGES and name not in {p.name for p in PAGES})


@pytest.fixture
def desk(world, lead):  # noqa: F811 - the fixture
    """The permission matrix's world (one of everything a URL points at), plus a notice sent, whose
    link the partner opens."""
    from django.utils import timezone

    from cases.correspondence.compose import notice_compose
    from cases.models import Correspondence

    incident = world["incident"]
    [sent] = notice_compose(incident=incident, actor=lead, kind="update").drafts
    Correspondence.objects.filter(pk=sent.pk).update(status="sent", sent_at=timezone.now())
    return {**world, "sent_notice": sent}


def test_the_inventory_covers_every_page(client, lead, desk):
    """Every pattern answering a lead with a whole HTML page is in PAGES, and every entry of PAGES
    is such a page: a new page without an entry fails here, naming it."""
    client.force_login(lead)
    inventory = {page.name: page for page in PAGES}
    missing, stale = [], []
    for _, _, kwargs, name in _patterns():
        if _left_out(name):
            continue
        url = inventory[name].url(desk) if name in inventory else _url(name, kwargs, desk)
        response = client.get(url)
        whole_page = (
            response.status_code == 200
            and response["Content-Type"].startswith("text/html")
            and not response.streaming
            and b"<html" in response.content[:1000].lower()
        )
        if whole_page and name not in inventory:
            missing.append(f"{name} ({url})")
        if name in inventory and not whole_page:
            stale.append(f"{name} ({url}) answered {response.status_code} {response['Content-Type']}")
    assert not missing, "pages missing from PAGES (add them, or to NOT_PAGES with a reason):\n" + "\n".join(missing)
    assert not stale, "entries of PAGES that are not whole pages:\n" + "\n".join(stale)
    names = {name for _, _, _, name in _patterns()}
    assert {page.name for page in PAGES} <= names


def _url(name: str, kwargs: tuple[str, ...], data: dict) -> str:
    return fill_url(
        name,
        kwargs,
        data,
        by_kwarg=KWARG_VALUES,
        by_endpoint=KWARG_VALUES_BY_ENDPOINT,
        where="tests/test_permission_matrix.py",
    )


SIZES = {"phone": PHONE, "desktop": DESKTOP}
LOCALES = {"en": "en-US", "es": "es-MX"}


def _overflow(tab) -> tuple[int, list[str]]:
    """How far the page scrolls sideways, and the widest elements."""
    overflow = page_overflow(tab)
    return overflow, _widest(tab) if overflow > 0 else []


def _widest(tab, limit: int = 5) -> list[str]:
    """The elements reaching furthest past the right edge that no scrolling container holds (the
    ones that widen the page), else tests/e2e/a11y.py's widest elements."""
    loose = tab.evaluate(
        """(limit) => {
            const width = document.documentElement.clientWidth;
            const held = (el) => {
                for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
                    if (getComputedStyle(up).overflowX !== "visible") return true;
                }
                return false;
            };
            return [...document.querySelectorAll("body *")]
                .map((el) => [el, el.getBoundingClientRect().right])
                .filter(([el, right]) => right > width + 1 && !held(el))
                .sort((a, b) => b[1] - a[1]).slice(0, limit)
                .map(([el, right]) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`
                    + (typeof el.className === "string" && el.className.trim()
                        ? "." + el.className.trim().split(/\\s+/).join(".") : "")
                    + ` right=${Math.round(right)}`);
        }""",
        limit,
    )
    return loose or widest_elements(tab, limit)


def _violations(tab) -> list[dict]:
    """axe-core's serious and critical violations (as tests/e2e/a11y.py)."""
    if not tab.evaluate("() => typeof window.axe !== 'undefined'"):
        tab.evaluate(AXE_SOURCE)
    context = {"include": [["html"]]}
    found = tab.evaluate(
        """async (context) => {
            const result = await axe.run(context, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact,
                targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }""",
        context,
    )
    return [violation for violation in found if violation["impact"] in BLOCKING]


def _check(tab, url: str, *, language: str, accessible: bool) -> list[str]:
    """What is wrong with one page: its answer, its language, its width and, when asked, axe-core."""
    response = tab.goto(url)
    problems = []
    if response is None or response.status != 200:
        return [f"answered {response.status if response else 'nothing'}"]
    lang = tab.evaluate("() => document.documentElement.lang")
    if lang != language:
        problems.append(f"is in {lang!r}, not {language!r}")
    overflow, widest = _overflow(tab)
    if overflow > 0:
        problems.append(f"scrolls sideways by {overflow} px: {widest}")
    if accessible:
        problems.extend(f"axe {v['id']} ({v['impact']}): {v['targets']}" for v in _violations(tab))
    return problems


def sweep(tab, base: str, desk: dict, *, language: str, accessible: bool, pages=None) -> dict[str, list[str]]:
    """Every page of `pages` (the whole inventory by default) → its problems: the public ones
    first, then signed in as the lead once."""
    pages = PAGES if pages is None else pages
    found = {}
    for page in [page for page in pages if page.public]:
        found[page.name] = _check(tab, base + page.url(desk, language), language=language, accessible=accessible)
    tab.goto(f"{base}/accounts/login/")
    tab.fill("#id_username", "lucia")
    tab.fill("#id_password", "secret-pass-123")
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{base}/")
    for page in [page for page in pages if not page.public]:
        found[page.name] = _check(tab, base + page.url(desk, language), language=language, accessible=accessible)
    return {name: problems for name, problems in found.items() if problems}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("size", "language", "accessible"),
    [("phone", "en", True), ("phone", "es", True), ("desktop", "en", False)],
    ids=["phone-en", "phone-es", "desktop-en"],
)
def test_every_page_fits_and_is_accessible(sized_page, live_server, desk, size, language, accessible):
    tab = sized_page(**SIZES[size], locale=LOCALES[language])
    failures = sweep(tab, live_server.url, desk, language=language, accessible=accessible)

    assert not failures, f"{len(failures)} pages fail at {size} in {language}:\n" + "\n".join(
        f"{name}: " + "\n    ".join(problems) for name, problems in sorted(failures.items())
    )
