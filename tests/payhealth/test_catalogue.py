"""The Spanish catalogue is complete and compiled: every UI string has a translation people see."""

from __future__ import annotations

import re
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parents[2] / "locale" / "es" / "LC_MESSAGES"


def _key(entry) -> tuple[str, str, str]:
    return (entry.msgctxt or "", entry.msgid, entry.msgid_plural or "")


def test_every_spanish_entry_is_translated_and_none_is_fuzzy():
    catalogue = polib.pofile(str(LOCALE / "django.po"))

    assert len(catalogue) > 1000
    assert [entry.msgid for entry in catalogue.untranslated_entries()] == []
    assert [entry.msgid for entry in catalogue.fuzzy_entries()] == []


def test_the_compiled_catalogue_holds_what_the_source_says():
    source = {
        _key(e): (e.msgstr, dict(e.msgstr_plural))
        for e in polib.pofile(str(LOCALE / "django.po"))
        if not e.obsolete and "fuzzy" not in e.flags
    }
    compiled = {_key(e): (e.msgstr, dict(e.msgstr_plural)) for e in polib.mofile(str(LOCALE / "django.mo")) if e.msgid}

    stale = sorted(key[1] for key in source.keys() ^ compiled.keys())
    assert stale == [], "run `manage.py compilemessages` (strings differ between django.po and django.mo)"
    assert [key[1] for key in source if source[key] != compiled[key]] == []


def test_the_spanish_addresses_people_formally():
    """Formal Mexican Spanish (usted): no "tú", "tu", "tus", and none of the tú verb forms that
    slipped in before."""
    informal = re.compile(r"\b(tú|tu|tus|ti|contigo|puedes|tienes|quieres|debes|escribes|conserves|ponle)\b", re.I)
    catalogue = polib.pofile(str(LOCALE / "django.po"))

    found = [
        translation
        for entry in catalogue
        for translation in [entry.msgstr, *entry.msgstr_plural.values()]
        if translation and informal.search(translation)
    ]

    assert found == []
