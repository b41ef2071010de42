"""Investigation notes are Markdown written by people; they are rendered to HTML and sanitised.

Markdown lets raw HTML through, so the rendered HTML goes through nh3 (the Rust `ammonia`
sanitiser) with a small allow-list: no scripts or styles (dropped with their content), no event
handler or style attributes, only http(s)/mailto links, each with rel="noopener noreferrer".
Images are not allowed: a remote image in a note would leak who reads the incident and when.
"""

from __future__ import annotations

from functools import lru_cache

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}
URL_SCHEMES = {"http", "https", "mailto"}
EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br"]


@lru_cache(maxsize=2048)
def render_markdown(text: str) -> str:
    """Markdown → HTML that is safe to insert in a page as is.

    A pure function of the text, so rendered notes are cached per process (Python-Markdown
    costs about a millisecond a note; the incident page shows all of them on every request).
    """
    html = markdown_lib.markdown(text or "", extensions=EXTENSIONS, output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )
