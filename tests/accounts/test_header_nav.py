"""The header's navigation: each role sees exactly the links its permissions allow, grouped in the
menus, with the page it is on marked; the shell's landmarks and skip link are there for everyone."""

from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

# Every destination of the header: (menu, label, url name, the permission that shows it).
NAV = [
    (None, "Incident queue", "cases:incident_list", None),
    (None, "SLA at risk", "cases:sla_at_risk", "cases.view_slaclock"),
    (None, "Overview", "overview", None),
    (None, "Approvals", "cases:notice_approvals", "cases.approve_correspondence"),
    (None, "Reply inbox", "cases:triage_inbox", "cases.triage_correspondence"),
    ("Directory", "Merchants", "cases:merchant_list", None),
    ("Directory", "Partners", "partners:partner_list", None),
    ("Monitoring", "Detector findings", "monitoring:finding_list", "monitoring.view_finding"),
    ("Monitoring", "Monitors", "monitoring:monitor_list", "monitoring.view_segmentmonitor"),
    ("Monitoring", "Upload payment data", "monitoring:upload_start", "monitoring.submit_metrics"),
    ("Costs", "Cost findings", "costs:finding_list", "costs.view_costfinding"),
    ("Costs", "Rate cards", "costs:ratecard_index", "costs.view_ratecard"),
    ("Reports", "SLA reports", "cases:sla_report", "cases.view_sla_reports"),
    ("Setup", "Notice templates", "partners:notice_template_list", "partners.change_noticetemplate"),
    ("Setup", "Alert severity rules", "alerts:rule_list", "alerts.view_alertseverityrule"),
    ("Setup", "Webhooks", "webhooks:subscription_list", "webhooks.view_webhooksubscription"),
    ("Setup", "SLA policies", "cases:sla_policy_list", "cases.view_slapolicy"),
]


class Header(HTMLParser):
    """The header's links and menu buttons: for each link its text, its menu and aria-current."""

    def __init__(self):
        super().__init__()
        self.in_header = False
        self.menu = None  # the label of the menu button whose list we are in
        self.button_text = None
        self.last_button = None
        self.link = None
        self.links = []  # (menu, text, href, current)
        self.buttons = []  # (text, aria-expanded, aria-controls)
        self.list_ids = {}  # list id -> hidden?
        self.skip_link = None
        self.first_link_seen = False
        self.main_id = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and not self.first_link_seen:
            self.first_link_seen = True
            self.skip_link = attrs.get("href")
        if tag == "main":
            self.main_id = attrs.get("id")
        if tag == "header":
            self.in_header = True
        if not self.in_header:
            return
        if tag == "button" and "data-disclosure" in attrs:
            self.button_text = ""
            self.buttons.append([None, attrs.get("aria-expanded"), attrs.get("aria-controls")])
        if tag == "ul" and "navmenu-list" in (attrs.get("class") or ""):
            self.list_ids[attrs["id"]] = "hidden" in attrs
            self.menu = self.last_button
        if tag == "a":
            self.link = [self.menu, "", attrs.get("href"), "aria-current" in attrs]

    def handle_endtag(self, tag):
        if tag == "header":
            self.in_header = False
        if tag == "button" and self.button_text is not None:
            self.buttons[-1][0] = self.last_button = self.button_text.strip()
            self.button_text = None
        if tag == "ul":
            self.menu = None
        if tag == "a" and self.link is not None:
            self.link[1] = self.link[1].strip()
            self.links.append(tuple(self.link))
            self.link = None

    def handle_data(self, data):
        if self.button_text is not None:
            self.button_text += data
        if self.link is not None:
            self.link[1] += data


def header_of(client, url):
    response = client.get(url)
    assert response.status_code == 200
    parser = Header()
    parser.feed(response.text)
    return parser


def expected_for(user):
    return {(menu, label, reverse(name)) for menu, label, name, perm in NAV if perm is None or user.has_perm(perm)}


@pytest.mark.parametrize("role", ["analyst", "partner_manager", "lead"])
def test_each_role_sees_exactly_the_links_its_permissions_allow(client, request, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    header = header_of(client, reverse("overview"))

    user_menu = user.get_full_name() or user.username
    skip_and_brand = {"#content", reverse("home")}
    nav = {
        (menu, text, href) for menu, text, href, _ in header.links if menu != user_menu and href not in skip_and_brand
    }
    assert nav == expected_for(user)
    # The user menu: preferences and API tokens; no administration for a desk role.
    mine = {(text, href) for menu, text, href, _ in header.links if menu == user_menu}
    assert mine == {("Your preferences", reverse("profile")), ("API tokens", reverse("api_tokens"))}
    assert reverse("admin:index") not in {href for *_, href, _ in header.links}
    # Every menu starts closed and names the list it controls; a menu is shown only with a link in it.
    menus = {menu for menu, *_ in header.links if menu}
    for text, expanded, controls in header.buttons:
        if controls == "site-nav":
            continue
        assert expanded == "false" and header.list_ids[controls] is True, text
        assert text in menus
    assert {menu for menu, *_ in expected_for(user) if menu} <= {text for text, *_ in header.buttons}


def test_a_lead_sees_every_destination_and_an_analyst_fewer(client, lead, analyst):
    client.force_login(lead)
    lead_links = {href for *_, href, _ in header_of(client, reverse("overview")).links}
    client.force_login(analyst)
    analyst_links = {href for *_, href, _ in header_of(client, reverse("overview")).links}
    assert {reverse(name) for *_, name, _ in NAV} <= lead_links
    assert reverse("cases:notice_approvals") not in analyst_links
    assert reverse("partners:notice_template_list") not in analyst_links


def test_a_superuser_finds_the_administration_in_setup(client):
    root = UserFactory(username="root", is_staff=True, is_superuser=True, role="lead")
    client.force_login(root)
    header = header_of(client, reverse("overview"))
    assert ("Setup", "Administration", reverse("admin:index"), False) in header.links


def test_the_current_page_is_marked_in_its_menu(client, lead):
    client.force_login(lead)
    header = header_of(client, reverse("monitoring:finding_list"))
    current = [(menu, text) for menu, text, _, is_current in header.links if is_current]
    assert current == [("Monitoring", "Detector findings")]
    # The cost findings are another app's "finding_list": only their own link is current there.
    header = header_of(client, reverse("costs:finding_list"))
    assert [(menu, text) for menu, text, _, is_current in header.links if is_current] == [("Costs", "Cost findings")]


def test_the_shell_has_a_skip_link_landmarks_and_a_labelled_language_switch(client, analyst):
    client.force_login(analyst)
    response = client.get(reverse("overview"))
    header = Header()
    header.feed(response.text)
    assert header.skip_link == "#content" and header.main_id == "content"
    assert 'aria-label="Main"' in response.text
    assert '<label for="language-select"' in response.text
    assert 'id="nav-overdue"' in response.text and 'hx-get="' + reverse("cases:sla_overdue_count") in response.text
    assert 'aria-controls="site-nav"' in response.text  # the narrow-screen "Menu" button


def test_the_header_speaks_spanish(client, lead):
    client.force_login(lead)
    response = client.get(reverse("overview"), HTTP_ACCEPT_LANGUAGE="es")
    for text in ("Saltar al contenido", "Menú", "Directorio", "Monitoreo", "Ajustes", "Reportes", "Cerrar sesión"):
        assert text in response.text, text


def test_the_navigation_rendered_once_follows_permissions_page_and_language(client, analyst):
    """The links are rendered once per language, set of permissions and page (accounts.templatetags.shell):
    a permission granted shows its link on the next request, and the marked page and language follow."""
    client.force_login(analyst)
    reports = reverse("cases:sla_report")
    links = {href for _, _, href, _ in header_of(client, reverse("overview")).links}
    assert reports not in links
    analyst.user_permissions.add(Permission.objects.get(codename="view_sla_reports"))
    overview = header_of(client, reverse("overview"))
    assert reports in {href for _, _, href, _ in overview.links}
    assert {href for _, _, href, current in overview.links if current} == {reverse("overview")}
    queue = header_of(client, reverse("cases:incident_list"))
    assert {href for _, _, href, current in queue.links if current} == {reverse("cases:incident_list")}
    spanish = client.get(reverse("overview"), HTTP_ACCEPT_LANGUAGE="es").text
    assert "Bandeja de incidentes" in spanish and ">Incident queue<" not in spanish
