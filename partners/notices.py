"""Notice templates: the shipped defaults, the sandbox they render in, and the checks on save.

Templates are edited by partner managers, so they are treated as untrusted code. They render in
a Django template engine of their own, separate from the site's: no built-in tags or filters
except the small allow-list below, so no `{% load %}`, `{% include %}`, `{% extends %}`,
`{% debug %}` or `{% url %}`; no context processors, so nothing of the request or of settings;
and a context of plain dicts, lists, strings and numbers built for one partner
(`cases.correspondence.context`), never model objects, so no method or relation can be reached.

A template is checked when it is saved, never discovered broken at send time: it must compile,
every variable it names must be one of `CONTEXT_SCHEMA`, and it must render against a sample
context. Each problem is reported with its line and the reason.

Shipped defaults live in `templates/notices/<language>/<kind>.txt`: a `Subject:` line, a blank
line, then the body. `load_notice_templates` copies them into `NoticeTemplate` rows (a data
migration and the `load_notice_templates` command call it).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.template import Context, Engine, Library, Template, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Node, TextNode, Variable, VariableNode
from django.template.defaulttags import CommentNode, ForNode, IfNode, TemplateLiteral
from django.utils import translation
from django.utils.translation import gettext as _

DEFAULTS_DIR = Path(__file__).resolve().parent.parent / "templates" / "notices"
KINDS = ("breakage", "update", "resolution", "rca_request", "follow_up", "sla_escalation")
LANGUAGES = ("en", "es")

ALLOWED_TAGS = ("if", "for", "comment")
ALLOWED_FILTERS = (
    "capfirst",
    "default",
    "default_if_none",
    "first",
    "join",
    "last",
    "length",
    "lower",
    "pluralize",
    "title",
    "truncatechars",
    "upper",
    "wordwrap",
    "yesno",
)

# The sandbox's only library, installed as the engine's sole builtin ("partners.notices").
register = Library()
for _name in ALLOWED_TAGS:
    register.tags[_name] = defaulttags.register.tags[_name]
for _name in ALLOWED_FILTERS:
    register.filters[_name] = defaultfilters.register.filters[_name]


class ListOf:
    """Schema of a list whose items all have the schema `item`."""

    def __init__(self, item) -> None:
        self.item = item


LEAF = None  # a string, number or boolean: nothing below it can be named
MOMENT = {"utc": LEAF, "local": LEAF, "offset": LEAF, "zone": LEAF, "iso": LEAF}
CONTACT = {"name": LEAF, "email": LEAF, "phone": LEAF, "role": LEAF, "level": LEAF}

# Every name a template may use, for one partner.
CONTEXT_SCHEMA: dict = {
    "reference": LEAF,
    "folio": LEAF,
    "title": LEAF,
    "severity": LEAF,
    "severity_label": LEAF,
    "status": LEAF,
    "category": LEAF,
    "partner": {"name": LEAF, "code": LEAF, "timezone": LEAF, "zone": LEAF},
    "window": {"start": MOMENT, "end": MOMENT, "detected": MOMENT, "ongoing": LEAF},
    "scope": {
        "merchants": ListOf(LEAF),
        "merchant_count": LEAF,
        "networks": ListOf(LEAF),
        "bin_prefixes": ListOf(LEAF),
        "country": LEAF,
    },
    "symptoms": ListOf({"code": LEAF, "meaning": LEAF, "category": LEAF}),
    "impact": {
        "measured": LEAF,
        "baseline_rate": LEAF,
        "observed_rate": LEAF,
        "drop_pp": LEAF,
        "change": LEAF,
        "attempts": LEAF,
        "excess_declines": LEAF,
        "amount_at_risk": LEAF,
    },
    "next_update": MOMENT,
    "now": MOMENT,
    "escalation_contacts": ListOf(CONTACT),
    "our_contact": {"name": LEAF, "team": LEAF, "email": LEAF},
}
FORLOOP = {
    "counter": LEAF,
    "counter0": LEAF,
    "revcounter": LEAF,
    "revcounter0": LEAF,
    "first": LEAF,
    "last": LEAF,
    "parentloop": LEAF,
}


class NoticeEngine(Engine):
    """A template engine with none of Django's built-in tags, filters or loaders."""

    default_builtins: list[str] = []


@functools.cache
def notice_engine(*, debug: bool = False) -> NoticeEngine:
    """The sandbox. `debug=True` only adds line numbers to errors (used when checking)."""
    return NoticeEngine(
        dirs=[],
        app_dirs=False,
        context_processors=[],
        debug=debug,
        loaders=[],
        string_if_invalid="",
        libraries={},
        builtins=["partners.notices"],
        autoescape=False,  # plain-text mail: nothing is HTML
    )


# A line holding only a tag or a comment leaves no empty line behind (Jinja's trim_blocks).
_TAG_ONLY_LINE = re.compile(r"^[ \t]*(\{%(?:(?!%\}).)*%\}|\{#(?:(?!#\}).)*#\})[ \t]*\r?\n", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def _compile(source: str, *, debug: bool = False) -> Template:
    return Template(source, engine=notice_engine(debug=debug))


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str


class NoticeRenderError(Exception):
    """A stored template that cannot render (it was saved without the checks, e.g. by SQL)."""


def render_notice(*, subject: str, body: str, context: dict, language: str) -> RenderedNotice:
    """Render a template's subject and body against an allow-listed context, in `language`.

    The subject becomes one line; the body loses the blank lines that tag-only lines would
    leave and keeps at most one empty line in a row.
    """
    with translation.override(language):
        try:
            rendered_subject = _compile(subject).render(Context(context, autoescape=False))
            rendered_body = _compile(_TAG_ONLY_LINE.sub(r"\1", body)).render(Context(context, autoescape=False))
        except TemplateSyntaxError as exc:
            raise NoticeRenderError(str(exc)) from exc
    rendered_subject = " ".join(rendered_subject.split())
    lines = [line.rstrip() for line in rendered_body.replace("\r\n", "\n").split("\n")]
    rendered_body = _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
    return RenderedNotice(subject=rendered_subject, body=rendered_body)


# --- checks on save ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TemplateProblem:
    line: int | None
    reason: str

    def __str__(self) -> str:
        if self.line is None:
            return self.reason
        return _("Line %(line)s: %(reason)s") % {"line": self.line, "reason": self.reason}


_INVALID_TAG = re.compile(r"Invalid block tag on line \d+: '([^']+)'")
_INVALID_FILTER = re.compile(r"Invalid filter: '([^']+)'")


def _syntax_reason(message: str) -> str:
    tag = _INVALID_TAG.search(message)
    if tag:
        return _("the tag {%% %(tag)s %%} is not allowed in notice templates (allowed: %(allowed)s).") % {
            "tag": tag.group(1),
            "allowed": ", ".join(ALLOWED_TAGS),
        }
    name = _INVALID_FILTER.search(message)
    if name:
        return _("the filter “%(filter)s” is not allowed in notice templates (allowed: %(allowed)s).") % {
            "filter": name.group(1),
            "allowed": ", ".join(ALLOWED_FILTERS),
        }
    return re.sub(r" on line \d+", "", message)  # the line is reported once, in front


def _resolve_schema(bits: tuple[str, ...], scope: dict):
    """The schema `bits` points at, or raises KeyError naming the first unknown part."""
    if bits[0] not in scope:
        raise KeyError(bits[0])
    schema = scope[bits[0]]
    for depth, bit in enumerate(bits[1:], start=2):
        if isinstance(schema, dict) and bit in schema:
            schema = schema[bit]
        elif isinstance(schema, ListOf) and bit.isdigit():
            schema = schema.item
        else:
            raise KeyError(".".join(bits[:depth]))
    return schema


class _VariableChecker:
    """Walks a compiled template and lists every name outside the allowed context."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.problems: list[TemplateProblem] = []

    def line_of(self, node: Node, text: str) -> int | None:
        start = getattr(getattr(node, "token", None), "lineno", None)
        if start is None:
            return None
        # An {% elif %} condition belongs to the {% if %} node: find the line that names it.
        for number in range(start, len(self.lines) + 1):
            if text in self.lines[number - 1]:
                return number
        return start

    def variable(self, variable, node: Node, scope: dict):
        if not isinstance(variable, Variable) or variable.lookups is None:
            return LEAF  # a literal: "text", 3
        try:
            return _resolve_schema(variable.lookups, scope)
        except KeyError as exc:
            name = exc.args[0]
            self.problems.append(
                TemplateProblem(
                    self.line_of(node, variable.var),
                    _("unknown variable “%(name)s”.") % {"name": name}
                    if "." not in name
                    else _("“%(name)s” is not something a notice can show.") % {"name": name},
                )
            )
            return LEAF

    def expression(self, expression: FilterExpression, node: Node, scope: dict):
        schema = self.variable(expression.var, node, scope)
        for _func, args in expression.filters:
            for is_variable, argument in args:
                if is_variable:
                    self.variable(argument, node, scope)
        return schema

    def condition(self, condition, node: Node, scope: dict) -> None:
        if condition is None:
            return
        if isinstance(condition, TemplateLiteral):
            self.expression(condition.value, node, scope)
            return
        for part in (getattr(condition, "first", None), getattr(condition, "second", None)):
            self.condition(part, node, scope)

    def nodelist(self, nodes, scope: dict) -> None:
        for node in nodes:
            if isinstance(node, (TextNode, CommentNode)):
                continue
            if isinstance(node, VariableNode):
                self.expression(node.filter_expression, node, scope)
            elif isinstance(node, IfNode):
                for condition, children in node.conditions_nodelists:
                    self.condition(condition, node, scope)
                    self.nodelist(children, scope)
            elif isinstance(node, ForNode):
                sequence = self.expression(node.sequence, node, scope)
                item = sequence.item if isinstance(sequence, ListOf) and len(node.loopvars) == 1 else LEAF
                inner = {**scope, "forloop": FORLOOP, **dict.fromkeys(node.loopvars, item)}
                self.nodelist(node.nodelist_loop, inner)
                self.nodelist(node.nodelist_empty, scope)
            else:  # only the allow-listed tags compile, so this is a new Django node type
                self.problems.append(TemplateProblem(self.line_of(node, ""), _("this tag is not allowed.")))


def template_problems(source: str, *, sample_contexts: list[dict] | None = None) -> list[TemplateProblem]:
    """Everything wrong with one template text: syntax, unknown names, failure to render."""
    try:
        compiled = _compile(source, debug=True)
    except TemplateSyntaxError as exc:
        line = getattr(exc, "template_debug", {}).get("line")
        return [TemplateProblem(line, _syntax_reason(str(exc)))]
    checker = _VariableChecker(source)
    checker.nodelist(compiled.nodelist, CONTEXT_SCHEMA)
    if checker.problems:
        return checker.problems
    for context in sample_contexts if sample_contexts is not None else sample_notice_contexts():
        try:
            compiled.render(Context(context, autoescape=False))
        except Exception as exc:  # a filter given a bad argument, say: refuse it now, not at send time
            line = getattr(exc, "template_debug", {}).get("line")
            return [TemplateProblem(line, _("it cannot be rendered: %(error)s") % {"error": exc})]
    return []


def notice_template_errors(*, subject: str, body: str) -> dict[str, list[str]]:
    """Problems per field ({"subject": [...], "body": [...]}), empty when the template is usable."""
    errors: dict[str, list[str]] = {}
    subject_problems = template_problems(subject)
    if "\n" in subject.strip() or "\r" in subject.strip():
        subject_problems.insert(0, TemplateProblem(None, _("The subject is a single line.")))
    if not subject.strip():
        subject_problems.insert(0, TemplateProblem(None, _("The subject cannot be empty.")))
    if subject_problems:
        errors["subject"] = [str(problem) for problem in subject_problems]
    body_problems = template_problems(body)
    if not body.strip():
        body_problems.insert(0, TemplateProblem(None, _("The body cannot be empty.")))
    if body_problems:
        errors["body"] = [str(problem) for problem in body_problems]
    return errors


def _moment(utc: str, local: str, offset: str, zone: str) -> dict:
    return {"utc": f"{utc} UTC", "local": local, "offset": offset, "zone": zone, "iso": utc.replace(" ", "T") + "Z"}


def sample_notice_contexts() -> list[dict]:
    """A complete context and one with every optional part empty: a template must render both."""
    full = {
        "reference": "PH-2026-000123",
        "folio": "INC-4471",
        "title": "Debit approvals down",
        "severity": "SEV1",
        "severity_label": "SEV1 – critical",
        "status": "Investigating",
        "category": "Authorization rate regression",
        "partner": {
            "name": "Sample Bank",
            "code": "sample-bank",
            "timezone": "America/Mexico_City",
            "zone": "Central Mexico time",
        },
        "window": {
            "start": _moment("2026-03-02 15:04", "2026-03-02 09:04 CST", "UTC−06:00", "Central Mexico time"),
            "end": _moment("2026-03-02 17:30", "2026-03-02 11:30 CST", "UTC−06:00", "Central Mexico time"),
            "detected": _moment("2026-03-02 15:10", "2026-03-02 09:10 CST", "UTC−06:00", "Central Mexico time"),
            "ongoing": False,
        },
        "scope": {
            "merchants": ["Merchant A", "Merchant B"],
            "merchant_count": 2,
            "networks": ["Visa", "Mastercard"],
            "bin_prefixes": ["415231", "52998801"],
            "country": "MX",
        },
        "symptoms": [{"code": "05", "meaning": "Do not honor", "category": "Soft decline"}],
        "impact": {
            "measured": True,
            "baseline_rate": "92.40%",
            "observed_rate": "71.10%",
            "drop_pp": "21.30",
            "change": "21.30 percentage points lower",
            "attempts": "120,000",
            "excess_declines": "25,560",
            "amount_at_risk": "MXN 1,234,567.89",
        },
        "next_update": _moment("2026-03-02 16:00", "2026-03-02 10:00 CST", "UTC−06:00", "Central Mexico time"),
        "now": _moment("2026-03-02 15:30", "2026-03-02 09:30 CST", "UTC−06:00", "Central Mexico time"),
        "escalation_contacts": [
            {
                "name": "Ana Ruiz",
                "email": "ana@bank.test",
                "phone": "+52 55 0000 0000",
                "role": "Escalation",
                "level": 2,
            }
        ],
        "our_contact": {"name": "Lucía Pérez", "team": "PayHealth Operations", "email": "payhealth@localhost"},
    }
    empty = {
        **full,
        "folio": "",
        "window": {**full["window"], "end": None, "ongoing": True},
        "scope": {"merchants": [], "merchant_count": 0, "networks": [], "bin_prefixes": [], "country": ""},
        "symptoms": [],
        "impact": dict.fromkeys(full["impact"], "") | {"measured": False},
        "next_update": None,
        "escalation_contacts": [],
        "our_contact": {"name": "", "team": "PayHealth Operations", "email": "payhealth@localhost"},
    }
    return [full, empty]


# --- shipped defaults -------------------------------------------------------------------------


def read_default_template(kind: str, language: str) -> tuple[str, str]:
    """(subject, body) of the shipped default for a kind and language."""
    text = (DEFAULTS_DIR / language / f"{kind}.txt").read_text(encoding="utf-8")
    first, _sep, rest = text.partition("\n")
    if not first.startswith("Subject:") or not rest.startswith("\n"):
        raise ValueError(f"{language}/{kind}.txt must start with 'Subject: …' and a blank line")
    return first.removeprefix("Subject:").strip(), rest[1:]


def load_notice_templates(NoticeTemplate, *, refresh: bool = False) -> list[str]:  # noqa: N803 - model class
    """Create version 1 of every default template that has no version yet; idempotent.

    With `refresh`, a default whose text differs from the active version becomes a new active
    version (partner managers' edits stay in the history). Takes the model class so a data
    migration can pass its historical model. Returns what changed, e.g. ["breakage/es v1"].
    """
    with transaction.atomic():
        return _load_notice_templates(NoticeTemplate, refresh=refresh)


def _load_notice_templates(NoticeTemplate, *, refresh: bool) -> list[str]:  # noqa: N803 - model class
    changed = []
    for kind in KINDS:
        for language in LANGUAGES:
            subject, body = read_default_template(kind, language)
            versions = NoticeTemplate.objects.select_for_update().filter(kind=kind, language=language)
            latest = versions.order_by("-version").first()
            if latest is None:
                NoticeTemplate.objects.create(
                    kind=kind, language=language, version=1, subject=subject, body=body, active=True
                )
                changed.append(f"{kind}/{language} v1")
                continue
            if not refresh:
                continue
            active = versions.filter(active=True).first()
            if active is not None and (active.subject, active.body) == (subject, body):
                continue
            versions.filter(active=True).update(active=False)
            NoticeTemplate.objects.create(
                kind=kind, language=language, version=latest.version + 1, subject=subject, body=body, active=True
            )
            changed.append(f"{kind}/{language} v{latest.version + 1}")
    return changed
