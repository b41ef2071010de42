"""The Spanish catalogue keeps the glossary's words (locale/GLOSSARY.md): its interface wording
entries exactly, none of the words it says to avoid; and the glossary covers every term of the
payments glossary it is built from (partners/data/glossary_en_es.csv)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[2]
GLOSSARY = ROOT / "locale" / "GLOSSARY.md"
CATALOGUE = ROOT / "locale" / "es" / "LC_MESSAGES" / "django.po"


def _table(section: str) -> list[list[str]]:
    """The rows of the first table under the heading `## section`, cells stripped of backticks."""
    text = GLOSSARY.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")][2:]  # past the header and its rule
    return [[cell.strip().strip("`") for cell in row.strip("|").split("|")] for row in rows]


def _translations() -> dict[str, str]:
    catalogue = polib.pofile(str(CATALOGUE))
    return {entry.msgid: entry.msgstr for entry in catalogue if not entry.obsolete and not entry.msgctxt}


def test_the_glossary_tables_are_read():
    assert len(_table("Interface wording")) >= 15
    assert ["red de tarjetas", "marca"] in _table("Words to avoid")


@pytest.mark.parametrize(("msgid", "msgstr"), _table("Interface wording"))
def test_the_catalogue_uses_the_glossarys_wording(msgid, msgstr):
    assert _translations().get(msgid) == msgstr


def test_no_spanish_text_uses_a_word_the_glossary_avoids():
    catalogue = polib.pofile(str(CATALOGUE))
    avoided = {
        word: re.compile(rf"(?<!\w){re.escape(word)}(?!\w)", re.IGNORECASE) for word, _ in _table("Words to avoid")
    }

    found = sorted(
        (word, translation)
        for entry in catalogue
        if not entry.obsolete
        for translation in [entry.msgstr, *entry.msgstr_plural.values()]
        for word, pattern in avoided.items()
        if translation and pattern.search(translation)
    )

    assert found == []


def test_the_glossary_covers_every_term_of_the_payments_glossary():
    with (ROOT / "partners" / "data" / "glossary_en_es.csv").open(encoding="utf-8") as source:
        terms = {row["english"] for row in csv.DictReader(source)}

    assert terms - {row[0] for row in _table("Terms")} == set()
