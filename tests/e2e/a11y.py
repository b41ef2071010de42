"""What every page owes every user, checked in real Chromium: no sideways page scroll, and no
serious or critical accessibility violation found by axe-core (vendored in tests/e2e/vendor/).

    assert_page_fits(page)        # the document is no wider than the viewport
    assert_accessible(page)       # axe-core: zero serious or critical violations

axe runs through Playwright's own evaluation channel, which the page's Content-Security-Policy
does not govern, so the policy stays as strict in the tests as in production."""

from __future__ import annotations

import json
from pathlib import Path

AXE_SOURCE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
BLOCKING = ("serious", "critical")
# The sizes the desk works at: a laptop and a phone.
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


def page_overflow(page) -> int:
    """How many pixels the document is wider than the viewport (0 when it fits)."""
    return page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")


def widest_elements(page, limit: int = 5) -> list[str]:
    """The elements reaching furthest past the viewport's right edge: what to fix when a page overflows."""
    return page.evaluate(
        """(limit) => {
            const width = document.documentElement.clientWidth;
            return [...document.querySelectorAll("body *")]
                .map((el) => [el, el.getBoundingClientRect().right])
                .filter(([el, right]) => right > width + 1)
                .sort((a, b) => b[1] - a[1]).slice(0, limit)
                .map(([el, right]) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}`
                    + (typeof el.className === "string" && el.className.trim()
                        ? "." + el.className.trim().split(/\\s+/).join(".") : "")
                    + ` right=${Math.round(right)}`);
        }""",
        limit,
    )


def assert_page_fits(page) -> None:
    overflow = page_overflow(page)
    assert overflow <= 0, f"{page.url} scrolls sideways by {overflow} px: {widest_elements(page)}"


def axe_violations(page, impacts: tuple[str, ...] = BLOCKING) -> list[dict]:
    """axe-core's violations of the given impacts on the page as it is now (rules of WCAG 2.1 A/AA
    and best practice)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE)
    result = page.evaluate(
        """async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
            }));
        }"""
    )
    return [violation for violation in result if violation["impact"] in impacts]


def assert_accessible(page) -> None:
    violations = axe_violations(page)
    assert not violations, f"{page.url}: axe-core found\n" + json.dumps(violations, indent=2, ensure_ascii=False)
