"""Notice templates: the shipped defaults, the sandbox they render in, and the checks on save.

Templates are edited by partner managers, so they are treated as untrusted code. They render in
a Django template engine of their own, separate from the site's: no built-in tags or filters
except the small allow-list below, so no `{% load %}`, `{% include %}`, `{% extends %}`,
`{% debug %}` or `{% url %}`; no context processors, so nothing of the request or of settings;
and a context of plain dicts, lists, strings and numbers built for one partner
(`cases.correspondence.context`), never model objects, so no method or relation can be reached.

A template is checked when it is saved, never discovered broken at send time: it must compile,
every variable it names must be one of `CONTEXT_SCHEMA`, every loop must go over one of its
lists, and it must render against a sample context. Each problem is reported with its line and
the reason.

Running a template costs the server, so the sandbox bounds the cost (the limits below): the
text, its lines and its tags have a size, tags nest only so deep, and every render carries a
budget of steps (nodes, loop passes, filters) and of characters that it spends while it runs and
stops at once when it is spent. Saving and previewing refuse a template beyond a limit;
rendering a stored one beyond it fails that notice with the reason, never the server.

Shipped defaults live in `templates/notices/<language>/<kind>.txt`: a `Subject:` line, a blank
line, then the body. `load_notice_templates` copies them into `NoticeTemplate` rows (a data
migration and the `load_notice_templates` command call it).
"""

from __future__ import annotations

import functools
import re
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.template import Context, Engine, Library, Template, defaultfilters, defaulttags
from django.template.base import FilterExpression, Lexer, Node, NodeList, TextNode, TokenType, Variable, VariableNode
from django.template.defaulttags import CommentNode, ForNode, IfNode, TemplateLiteral
from django.utils import translation
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from partners.models import NoticeTemplate

DEFAULTS_DIR = Path(__file__).resolve().parent.parent / "templates" / "notices"
KINDS = (
    "breakage",
    "update",
    "resolution",
    "rca_request",
    "follow_up",
    "sla_escalation",
    "billing_discrepancy",
    "account_update",
)
# Kinds addressed to our own people (a merchant's account manager), never to a partner.
INTERNAL_KINDS = ("account_update",)
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

# --- limits -----------------------------------------------------------------------------------
# Each one closes a way of making the server work without bound; the shipped defaults stay far
# below all of them.

MAX_TEMPLATE_CHARS = 20_000  # a body
SUBJECT_MAX_CHARS = NoticeTemplate._meta.get_field("subject").max_length
# Django's lexer scans the rest of a line again for every "{{", "{%" or "{#" left open on it, so
# its work grows with the square of a line's length.
MAX_LINE_CHARS = 1_000
MAX_TAG_WORDS = 40  # in one {% %}: conditions are parsed and evaluated recursively
MAX_NESTING = 10  # tags inside tags: compiling and rendering recurse once per level
MAX_RENDER_STEPS = 20_000  # per render: nodes rendered, loop passes, filters applied
MAX_OUTPUT_CHARS = 100_000  # per render: characters made by text, variables and filters

_TOO_LONG = gettext_lazy("The text is longer than %(limit)s characters.")
_LINE_TOO_LONG = gettext_lazy("the line is longer than %(limit)s characters: break it into shorter lines.")
_NOT_CLOSED = gettext_lazy("“%(opening)s” has no “%(closing)s” after it on its line.")
_DELIMITERS = (("{{", "}}"), ("{%", "%}"), ("{#", "#}"))
_TOO_MANY_WORDS = gettext_lazy("the tag has more than %(limit)s words: shorten the condition.")
_TOO_DEEP = gettext_lazy("tags are nested more than %(limit)s deep.")
_TOO_MANY_STEPS = gettext_lazy(
    "rendering it takes more than %(limit)s steps: a loop repeats everything inside it, and loops inside loops "
    "multiply."
)
_TOO_MUCH_TEXT = gettext_lazy("rendering it produces more than %(limit)s characters.")


class NoticeTemplateLimit(Exception):
    """A template beyond what the sandbox runs; its message is written in the reader's language when shown."""

    def __init__(self, message, *, line: int | None = None, **params) -> None:
        super().__init__(message, params)
        self.message, self.line, self.params = message, line, params

    def __str__(self) -> str:
        return str(self.message) % {
            name: number_format(value, force_grouping=True) if isinstance(value, int) else value
            for name, value in self.params.items()
        }


class _Budget:
    """What one render may still spend."""

    def __init__(self) -> None:
        self.steps, self.chars = MAX_RENDER_STEPS, MAX_OUTPUT_CHARS

    def charge(self, steps: int, chars: int) -> None:
        self.steps -= steps
        self.chars -= chars
        self.check()

    def check(self) -> None:
        if self.steps < 0:
            raise NoticeTemplateLimit(_TOO_MANY_STEPS, limit=MAX_RENDER_STEPS)
        if self.chars < 0:
            raise NoticeTemplateLimit(_TOO_MUCH_TEXT, limit=MAX_OUTPUT_CHARS)


_budget: ContextVar[_Budget] = ContextVar("notice_render_budget")


def _charge(steps: int = 1, chars: int = 0) -> None:
    """Spend from the running render's budget (a LookupError outside `_render`: nothing renders unmetered)."""
    _budget.get().charge(steps, chars)


def _render(template: Template, context: dict) -> str:
    budget = _Budget()
    token = _budget.set(budget)
    try:
        output = template.render(Context(context, autoescape=False))
    finally:
        _budget.reset(token)
    budget.check()  # spent inside an {% if %} condition, whose errors Django turns into False
    return output


class _MeteredText(TextNode):
    def render(self, context):
        _charge(chars=len(self.s))
        return self.s

    render_annotated = render  # like TextNode's: the enclosing tag's line is the one reported


class _MeteredVariable(VariableNode):
    def render(self, context):
        _charge()
        output = super().render(context)
        _charge(steps=0, chars=len(output))
        return output


class _MeteredOperand(TemplateLiteral):
    """An operand of an {% if %} condition: comparing a list (`in`, `==`) costs its length."""

    def eval(self, context):
        value = super().eval(context)
        _charge(steps=len(value) if isinstance(value, list | tuple | dict) else 0)
        return value


def _meter_condition(condition):
    if isinstance(condition, TemplateLiteral):
        return _MeteredOperand(condition.value, condition.text)
    for side in ("first", "second"):
        operand = getattr(condition, side, None)
        if operand is not None:
            setattr(condition, side, _meter_condition(operand))
    return condition


class _MeteredIf(IfNode):
    def render(self, context):
        _charge()
        return super().render(context)


class _MeteredFor(ForNode):
    def render(self, context):
        _charge()
        return super().render(context)


class _LoopPass(Node):
    """The first node of every loop body: each pass costs a step, even an empty one."""

    def render(self, context):
        _charge()
        return ""


class _MeteredComment(CommentNode):
    def render(self, context):
        _charge()
        return ""


def _meter(nodelist: NodeList) -> None:
    """Swap the text and variable nodes the parser made for ones that spend the budget."""
    for index, node in enumerate(nodelist):
        if type(node) is TextNode:
            metered = _MeteredText(node.s)
        elif type(node) is VariableNode:
            metered = _MeteredVariable(node.filter_expression)
        else:
            continue
        metered.token, metered.origin = node.token, node.origin
        nodelist[index] = metered


def _check_nesting(parser) -> None:
    # The parser's stack of open tags is this tag's depth; checked before Django parses the
    # tag's body, which is where it would recurse.
    if len(parser.command_stack) > MAX_NESTING:
        raise NoticeTemplateLimit(_TOO_DEEP, limit=MAX_NESTING)


def _if_tag(parser, token):
    _check_nesting(parser)
    node = defaulttags.do_if(parser, token)
    for _condition, nodelist in node.conditions_nodelists:
        _meter(nodelist)
    return _MeteredIf([(_meter_condition(condition), nodelist) for condition, nodelist in node.conditions_nodelists])


def _for_tag(parser, token):
    _check_nesting(parser)
    node = defaulttags.do_for(parser, token)
    _meter(node.nodelist_loop)
    _meter(node.nodelist_empty)
    each_pass = _LoopPass()
    each_pass.token, each_pass.origin = token, parser.origin
    node.nodelist_loop.insert(0, each_pass)
    return _MeteredFor(node.loopvars, node.sequence, node.is_reversed, node.nodelist_loop, node.nodelist_empty)


def _comment_tag(parser, token):
    defaulttags.comment(parser, token)
    return _MeteredComment()


def _metered_filter(function):
    """A filter that spends a step and the length of the text it returns."""

    @functools.wraps(function)  # keeps is_safe, needs_autoescape and, through __wrapped__, the arguments
    def metered(value, *args, **kwargs):
        _charge()
        result = function(value, *args, **kwargs)
        _charge(steps=0, chars=len(result) if isinstance(result, str) else 0)
        return result

    return metered


@functools.wraps(defaultfilters.join)
def _join(value, arg, autoescape=True):
    """`join`, charged for the text it would make before it makes it (chained, it multiplies)."""
    items = list(value) if isinstance(value, str | list | tuple | dict) else []
    made = sum(len(item) for item in items if isinstance(item, str))
    if isinstance(arg, str):
        made += len(arg) * max(len(items) - 1, 0)
    _charge(chars=made)
    return defaultfilters.join(value, arg, autoescape=autoescape)


# The sandbox's only library, installed as the engine's sole builtin ("partners.notices").
register = Library()
for _name, _compile_function in zip(ALLOWED_TAGS, (_if_tag, _for_tag, _comment_tag), strict=True):
    register.tag(_name, _compile_function)
for _name in ALLOWED_FILTERS:
    register.filters[_name] = _metered_filter(defaultfilters.register.filters[_name])
register.filters["join"] = _join


class ListOf:
    """Schema of a list whose items all have the schema `item`."""

    def __init__(self, item) -> None:
        self.item = item


LEAF = None  # a string, number or boolean: nothing below it can be named
# `text` is the one a reader's bank expects: "sábado 10/08/2019, 10:47 h, hora del centro de México
# (horario de verano, UTC−05:00)" or "Saturday 10 Aug 2019, 10:47 CDT (Central Mexico time, UTC−05:00)".
MOMENT = {
    "utc": LEAF,
    "local": LEAF,
    "offset": LEAF,
    "zone": LEAF,
    "iso": LEAF,
    "text": LEAF,
    "date": LEAF,
    "time": LEAF,
    "weekday": LEAF,
    "dst": LEAF,
}
CONTACT = {"name": LEAF, "email": LEAF, "phone": LEAF, "role": LEAF, "level": LEAF}

# Every name a template may use, for one partner.
CONTEXT_SCHEMA: dict = {
    "reference": LEAF,
    "folio": LEAF,
    "partner_eta": MOMENT,  # when the partner expects to restore service (confirmed from its reply), or None
    "title": LEAF,  # the partner-facing title in the notice's language
    "summary": LEAF,  # "what we see", in the notice's language
    "severity": LEAF,
    "severity_label": LEAF,
    "status": LEAF,
    "category": LEAF,
    "partner": {"name": LEAF, "code": LEAF, "timezone": LEAF, "zone": LEAF, "kind": LEAF},
    "window": {"start": MOMENT, "end": MOMENT, "detected": MOMENT, "ongoing": LEAF},
    "scope": {
        "merchants": ListOf(LEAF),
        "merchant_count": LEAF,
        "networks": ListOf(LEAF),
        "bin_prefixes": ListOf(LEAF),
        "country": LEAF,  # the country's name in the notice's language
        "country_code": LEAF,
        # What this partner sees only: merchants with the affiliation number it gave them, if known.
        "merchant_rows": ListOf({"name": LEAF, "affiliation": LEAF}),
        "entry_modes": ListOf(LEAF),
    },
    "symptoms": ListOf(
        {
            "code": LEAF,
            "meaning": LEAF,
            "category": LEAF,
            "count_before": LEAF,
            "count_during": LEAF,
            "share_before": LEAF,
            "share_during": LEAF,
        }
    ),
    "impact": {
        "measured": LEAF,
        "baseline_rate": LEAF,
        "observed_rate": LEAF,
        "drop_pp": LEAF,
        "change": LEAF,
        "attempts": LEAF,
        "excess_declines": LEAF,
        "amount_at_risk": LEAF,
        "drop": LEAF,  # "caída de 48.55 puntos porcentuales" / "a drop of 48.55 percentage points"
    },
    "next_update": MOMENT,
    "now": MOMENT,
    # An RCA request's due date (filled for that kind only): `due_date` is the partner's day in words,
    # "viernes 16/08/2019"; `reminder` is a reminder of an open request, `overdue` past its due date.
    "rca": {"due": MOMENT, "due_date": LEAF, "reminder": LEAF, "overdue": LEAF},
    "escalation_contacts": ListOf(CONTACT),
    # The desk: who signs, its team mailbox, and its 24×7 line, bridge and escalation manager.
    "our_contact": {
        "name": LEAF,
        "team": LEAF,
        "email": LEAF,
        "desk": LEAF,
        "phone": LEAF,
        "bridge": LEAF,
        "escalation": {"name": LEAF, "phone": LEAF, "email": LEAF},
    },
    # A billing dispute with the partner (filled by the costs app for incidents with a billing case;
    # `present` is false otherwise). Amounts are formatted, e.g. "17,500.00"; totals carry the currency.
    "billing": {
        "present": LEAF,
        "currency": LEAF,
        "period": LEAF,
        "rows": ListOf(
            {
                "kind": LEAF,
                "cohort": LEAF,
                "fee_type": LEAF,
                "transactions": LEAF,
                "volume": LEAF,
                "expected_bps": LEAF,
                "billed_bps": LEAF,
                "expected": LEAF,
                "billed": LEAF,
                "difference": LEAF,
                "cause": LEAF,
                "rate_card_version": LEAF,
            }
        ),
        "rate_cards": ListOf({"version": LEAF, "effective_from": LEAF, "effective_to": LEAF}),
        "total_expected": LEAF,
        "total_billed": LEAF,
        "total_difference": LEAF,
        "amount_disputed": LEAF,
        "deadline": LEAF,
        "attachment": LEAF,
    },
}
# An internal update to a merchant's account team (`present` is false in partner notices): that
# merchant's own impact, the partners engaged and what to tell the merchant.
CONTEXT_SCHEMA["account"] = {
    "present": LEAF,
    "merchant": LEAF,
    "merchant_account": LEAF,
    "manager": LEAF,
    "measured": LEAF,
    "baseline_rate": LEAF,
    "observed_rate": LEAF,
    "change": LEAF,
    "attempts": LEAF,
    "excess_declines": LEAF,
    "volume_at_risk": LEAF,
    "partners": ListOf({"name": LEAF, "kind": LEAF, "status": LEAF}),
}
EMPTY_ACCOUNT = {
    "present": False,
    "merchant": "",
    "merchant_account": "",
    "manager": "",
    "measured": False,
    "baseline_rate": "",
    "observed_rate": "",
    "change": "",
    "attempts": "",
    "excess_declines": "",
    "volume_at_risk": "",
    "partners": [],
}
EMPTY_BILLING = {
    "present": False,
    "currency": "",
    "period": "",
    "rows": [],
    "rate_cards": [],
    "total_expected": "",
    "total_billed": "",
    "total_difference": "",
    "amount_disputed": "",
    "deadline": "",
    "attachment": "",
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


def _check_source(source: str, *, max_chars: int) -> None:
    """Refuse a text that would make Django's lexer or parser work too hard, before they see it.

    The lexer looks for the end of a "{{", "{%" or "{#" to the end of its line, again for each
    one left open: with every one closed on its line, and lines of bounded length, it reads a
    text in one pass.
    """
    if len(source) > max_chars:
        raise NoticeTemplateLimit(_TOO_LONG, limit=max_chars)
    for number, line in enumerate(source.split("\n"), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise NoticeTemplateLimit(_LINE_TOO_LONG, line=number, limit=MAX_LINE_CHARS)
        for opening, closing in _DELIMITERS:
            last_closing = line.rfind(closing)
            if line.find(opening, max(last_closing - 1, 0) if last_closing >= 0 else 0) >= 0:
                raise NoticeTemplateLimit(_NOT_CLOSED, line=number, opening=opening, closing=closing)
    for token in Lexer(source).tokenize():
        if token.token_type is TokenType.BLOCK and len(token.split_contents()) > MAX_TAG_WORDS:
            raise NoticeTemplateLimit(_TOO_MANY_WORDS, line=token.lineno, limit=MAX_TAG_WORDS)


def _compile(
    source: str, *, max_chars: int = MAX_TEMPLATE_CHARS, trim_tag_lines: bool = False, debug: bool = False
) -> Template:
    _check_source(source, max_chars=max_chars)
    if trim_tag_lines:  # after the check: joined lines are made of closed tags, which lex in one pass
        source = _TAG_ONLY_LINE.sub(r"\1", source)
    template = Template(source, engine=notice_engine(debug=debug))
    _meter(template.nodelist)
    return template


def _line_of(error: Exception) -> int | None:
    return getattr(error, "line", None) or getattr(error, "template_debug", {}).get("line")


@dataclass(frozen=True)
class RenderedNotice:
    subject: str
    body: str


class NoticeRenderError(Exception):
    """A template that cannot render: saved without the checks (e.g. by SQL), or beyond a limit
    for this incident (a loop over its 5,000 merchants, say)."""


def render_notice(*, subject: str, body: str, context: dict, language: str) -> RenderedNotice:
    """Render a template's subject and body against an allow-listed context, in `language`.

    The subject becomes one line; the body loses the blank lines that tag-only lines would
    leave and keeps at most one empty line in a row. Anything that stops the render is a
    `NoticeRenderError` whose message is in the reader's language, not the notice's.
    """
    try:
        with translation.override(language):
            rendered_subject = _render(_compile(subject, max_chars=SUBJECT_MAX_CHARS), context)
            rendered_body = _render(_compile(body, trim_tag_lines=True), context)
    except Exception as exc:  # an untrusted template: whatever stops it is the template's problem
        raise NoticeRenderError(_explain(subject, body, context) or str(exc)) from exc
    rendered_subject = " ".join(rendered_subject.split())
    lines = [line.rstrip() for line in rendered_body.replace("\r\n", "\n").split("\n")]
    rendered_body = _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n") + "\n"
    return RenderedNotice(subject=rendered_subject, body=rendered_body)


def _explain(subject: str, body: str, context: dict) -> str:
    """Why a render failed, with the line: the texts as written, checked against that same context."""
    problems = template_problems(subject, sample_contexts=[context], max_chars=SUBJECT_MAX_CHARS)
    problems = problems or template_problems(body, sample_contexts=[context])
    return " ".join(str(problem) for problem in problems)


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
        elif isinstance(schema, ListOf) and bit.isascii() and bit.isdigit():  # "²" is no index
            schema = schema.item
        else:
            raise KeyError(".".join(bits[:depth]))
    return schema


def _list_names(schema: dict, prefix: str = "") -> list[str]:
    names = []
    for key, value in schema.items():
        if isinstance(value, ListOf):
            names.append(f"{prefix}{key}")
        elif isinstance(value, dict):
            names.extend(_list_names(value, f"{prefix}{key}."))
    return names


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
            if isinstance(node, (TextNode, CommentNode, _LoopPass)):
                continue
            if isinstance(node, VariableNode):
                self.expression(node.filter_expression, node, scope)
            elif isinstance(node, IfNode):
                for condition, children in node.conditions_nodelists:
                    self.condition(condition, node, scope)
                    self.nodelist(children, scope)
            elif isinstance(node, ForNode):
                known = len(self.problems)
                sequence = self.expression(node.sequence, node, scope)
                if not isinstance(sequence, ListOf) and len(self.problems) == known:
                    # A literal or a text would be walked character by character: nested, that is
                    # a million passes from one line.
                    self.problems.append(
                        TemplateProblem(
                            self.line_of(node, node.sequence.token),
                            _("a loop can only go over one of the notice's lists: %(lists)s.")
                            % {"lists": ", ".join(_list_names(CONTEXT_SCHEMA))},
                        )
                    )
                item = sequence.item if isinstance(sequence, ListOf) and len(node.loopvars) == 1 else LEAF
                inner = {**scope, "forloop": FORLOOP, **dict.fromkeys(node.loopvars, item)}
                self.nodelist(node.nodelist_loop, inner)
                self.nodelist(node.nodelist_empty, scope)
            else:  # only the allow-listed tags compile, so this is a new Django node type
                self.problems.append(TemplateProblem(self.line_of(node, ""), _("this tag is not allowed.")))


def template_problems(
    source: str, *, sample_contexts: list[dict] | None = None, max_chars: int = MAX_TEMPLATE_CHARS
) -> list[TemplateProblem]:
    """Everything wrong with one template text: size, syntax, unknown names, failure to render."""
    try:
        compiled = _compile(source, max_chars=max_chars, debug=True)
    except NoticeTemplateLimit as exc:
        return [TemplateProblem(_line_of(exc), str(exc))]
    except Exception as exc:  # TemplateSyntaxError, or whatever else a hostile text finds
        return [TemplateProblem(_line_of(exc), _syntax_reason(str(exc)))]
    checker = _VariableChecker(source)
    checker.nodelist(compiled.nodelist, CONTEXT_SCHEMA)
    if checker.problems:
        return checker.problems
    for context in sample_contexts if sample_contexts is not None else sample_notice_contexts():
        try:
            _render(compiled, context)
        except NoticeTemplateLimit as exc:
            return [TemplateProblem(_line_of(exc), str(exc))]
        except Exception as exc:  # a filter given a bad argument, say: refuse it now, not at send time
            return [TemplateProblem(_line_of(exc), _("it cannot be rendered: %(error)s") % {"error": exc})]
    return []


def notice_template_errors(*, subject: str, body: str) -> dict[str, list[str]]:
    """Problems per field ({"subject": [...], "body": [...]}), empty when the template is usable."""
    errors: dict[str, list[str]] = {}
    subject_problems = template_problems(subject, max_chars=SUBJECT_MAX_CHARS)
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
    day, clock = local.split(" ")[:2]
    year, month, date = day.split("-")
    return {
        "utc": f"{utc} UTC",
        "local": local,
        "offset": offset,
        "zone": zone,
        "iso": utc.replace(" ", "T") + "Z",
        "text": f"Monday {int(date)} Mar {year}, {clock} CST ({zone}, {offset})",
        "date": f"{date}/{month}/{year}",
        "time": clock,
        "weekday": "Monday",
        "dst": False,
    }


def sample_notice_contexts() -> list[dict]:
    """A complete context and one with every optional part empty: a template must render both."""
    full = {
        "reference": "PH-2026-000123",
        "folio": "INC-4471",
        "partner_eta": _moment("2026-03-02 20:00", "2026-03-02 14:00 CST", "UTC−06:00", "Central Mexico time"),
        "title": "Debit approvals down",
        "summary": "Debit card authorizations at two merchants decline with response code 05 since 09:04.",
        "severity": "SEV1",
        "severity_label": "SEV1 – critical",
        "status": "Investigating",
        "category": "Authorization rate regression",
        "partner": {
            "name": "Sample Bank",
            "code": "sample-bank",
            "timezone": "America/Mexico_City",
            "zone": "Central Mexico time",
            "kind": "Issuer",
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
            "country": "Mexico",
            "country_code": "MX",
            "merchant_rows": [
                {"name": "Merchant A", "affiliation": "7012345"},
                {"name": "Merchant B", "affiliation": ""},
            ],
            "entry_modes": ["Chip (EMV)", "E-commerce"],
        },
        "symptoms": [
            {
                "code": "05",
                "meaning": "Do not honor",
                "category": "Soft decline",
                "count_before": "1,200",
                "count_during": "9,800",
                "share_before": "40.0%",
                "share_during": "62.5%",
            }
        ],
        "impact": {
            "measured": True,
            "baseline_rate": "92.40%",
            "observed_rate": "71.10%",
            "drop_pp": "21.30",
            "change": "21.30 percentage points lower",
            "attempts": "120,000",
            "excess_declines": "25,560",
            "amount_at_risk": "MXN 1,234,567.89",
            "drop": "a drop of 21.30 percentage points",
        },
        "next_update": _moment("2026-03-02 16:00", "2026-03-02 10:00 CST", "UTC−06:00", "Central Mexico time"),
        "now": _moment("2026-03-02 15:30", "2026-03-02 09:30 CST", "UTC−06:00", "Central Mexico time"),
        "rca": {
            "due": _moment("2026-03-10 00:00", "2026-03-09 18:00 CST", "UTC−06:00", "Central Mexico time"),
            "due_date": "Monday, 9 March 2026",
            "reminder": True,
            "overdue": True,
        },
        "escalation_contacts": [
            {
                "name": "Ana Ruiz",
                "email": "ana@bank.test",
                "phone": "+52 55 0000 0000",
                "role": "Escalation",
                "level": 2,
            }
        ],
        "our_contact": {
            "name": "Lucía Pérez",
            "team": "PayHealth Operations",
            "email": "payhealth@localhost",
            "desk": "PayHealth Operations",
            "phone": "+52 55 0000 0001",
            "bridge": "https://meet.example.com/payhealth",
            "escalation": {"name": "Marta Gómez", "phone": "+52 55 0000 0002", "email": "marta@example.com"},
        },
        "billing": {
            "present": True,
            "currency": "MXN",
            "period": "2026-06",
            "rows": [
                {
                    "kind": "Rate deviation",
                    "cohort": "network visa, funding debit",
                    "fee_type": "Interchange",
                    "transactions": "1,250",
                    "volume": "1,250,000.00",
                    "expected_bps": "150.00",
                    "billed_bps": "290.00",
                    "expected": "18,750.00",
                    "billed": "36,250.00",
                    "difference": "17,500.00",
                    "cause": "Sample Bank billed Interchange at 290 bps where rate card version 3 gives 150 bps.",
                    "rate_card_version": 3,
                }
            ],
            "rate_cards": [{"version": 3, "effective_from": "2026-06-01", "effective_to": ""}],
            "total_expected": "MXN 18,750.00",
            "total_billed": "MXN 36,250.00",
            "total_difference": "MXN 17,500.00",
            "amount_disputed": "MXN 17,500.00",
            "deadline": "2026-08-30",
            "attachment": "billing-discrepancy-PH-2026-000123.csv",
        },
        "account": {
            "present": True,
            "merchant": "Merchant A",
            "merchant_account": "acct_1Nv0FGQ9RKHgCVdK",
            "manager": "Laura Gómez",
            "measured": True,
            "baseline_rate": "93.10%",
            "observed_rate": "44.55%",
            "change": "48.55 percentage points lower",
            "attempts": "182,400",
            "excess_declines": "88,556",
            "volume_at_risk": "MXN 38,650,210.40",
            "partners": [{"name": "Sample Bank", "kind": "Issuer", "status": "Notified"}],
        },
    }
    empty = {
        **full,
        "folio": "",
        "partner_eta": None,
        "window": {**full["window"], "end": None, "ongoing": True},
        "summary": "",
        "scope": {
            "merchants": [],
            "merchant_count": 0,
            "networks": [],
            "bin_prefixes": [],
            "country": "",
            "country_code": "",
            "merchant_rows": [],
            "entry_modes": [],
        },
        "symptoms": [],
        "impact": dict.fromkeys(full["impact"], "") | {"measured": False},
        "next_update": None,
        "rca": {"due": None, "due_date": "", "reminder": False, "overdue": False},
        "escalation_contacts": [],
        "our_contact": {
            "name": "",
            "team": "PayHealth Operations",
            "email": "payhealth@localhost",
            "desk": "PayHealth Operations",
            "phone": "",
            "bridge": "",
            "escalation": {"name": "", "phone": "", "email": ""},
        },
        "billing": dict(EMPTY_BILLING),
        "account": dict(EMPTY_ACCOUNT),
    }
    return [full, empty]


# --- shipped defaults -------------------------------------------------------------------------


def read_default_template(kind: str, language: str, partner_kind: str = "") -> tuple[str, str]:
    """(subject, body) of the shipped default for a kind and language (and partner kind, for a variant)."""
    name = f"{kind}.{partner_kind}.txt" if partner_kind else f"{kind}.txt"
    text = (DEFAULTS_DIR / language / name).read_text(encoding="utf-8")
    first, _sep, rest = text.partition("\n")
    if not first.startswith("Subject:") or not rest.startswith("\n"):
        raise ValueError(f"{language}/{name} must start with 'Subject: …' and a blank line")
    return first.removeprefix("Subject:").strip(), rest[1:]


def default_variants() -> list[tuple[str, str]]:
    """(kind, partner kind) of every shipped default, the generic ones with partner kind ""; a variant
    ships in every language (`templates/notices/<language>/<kind>.<partner kind>.txt`)."""
    variants = [(kind, "") for kind in KINDS]
    for path in sorted((DEFAULTS_DIR / LANGUAGES[0]).glob("*.*.txt")):
        kind, _dot, partner_kind = path.name.removesuffix(".txt").partition(".")
        if kind in KINDS:
            variants.append((kind, partner_kind))
    return variants


def load_notice_templates(NoticeTemplate, *, refresh: bool | str = False) -> list[str]:  # noqa: N803 - model class
    """Create version 1 of every default template that has no version yet; idempotent.

    With `refresh`, a default whose text differs from the active version becomes a new active
    version (partner managers' edits stay in the history); with `refresh="unedited"`, only where
    the active version is a shipped one no person wrote. Takes the model class so a data migration
    can pass its historical model (before partner kinds existed, only the generic defaults load).
    Returns what changed, e.g. ["breakage/es v1", "breakage.issuer/es v1"].
    """
    with transaction.atomic():
        return _load_notice_templates(NoticeTemplate, refresh=refresh)


def _load_notice_templates(NoticeTemplate, *, refresh: bool | str) -> list[str]:  # noqa: N803 - model class
    changed = []
    by_partner_kind = any(field.name == "partner_kind" for field in NoticeTemplate._meta.get_fields())
    for kind, partner_kind in default_variants():
        if partner_kind and not by_partner_kind:
            continue
        scope = {"partner_kind": partner_kind} if by_partner_kind else {}
        label = f"{kind}.{partner_kind}" if partner_kind else kind
        for language in LANGUAGES:
            subject, body = read_default_template(kind, language, partner_kind)
            versions = NoticeTemplate.objects.select_for_update().filter(kind=kind, language=language, **scope)
            latest = versions.order_by("-version").first()
            if latest is None:
                NoticeTemplate.objects.create(
                    kind=kind, language=language, version=1, subject=subject, body=body, active=True, **scope
                )
                changed.append(f"{label}/{language} v1")
                continue
            if not refresh:
                continue
            active = versions.filter(active=True).first()
            if active is not None and (active.subject, active.body) == (subject, body):
                continue
            if refresh == "unedited" and (active is None or active.author_id is not None):
                continue
            versions.filter(active=True).update(active=False)
            NoticeTemplate.objects.create(
                kind=kind,
                language=language,
                version=latest.version + 1,
                subject=subject,
                body=body,
                active=True,
                **scope,
            )
            changed.append(f"{label}/{language} v{latest.version + 1}")
    return changed
