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


# Formal Mexican Spanish (usted) in the whole interface: the tú pronouns and possessives, the tú
# forms of the verbs the desk uses, and tú commands with a pronoun attached. Whole words only, so
# "actual", "estatus" or "tutorial" never match.
TU_WORDS = (
    *("tú", "tu", "tus", "ti", "te", "contigo", "tuyo", "tuya", "tuyos", "tuyas"),
    *("puedes", "tienes", "quieres", "debes", "necesitas", "estás", "eres", "sabes", "vas", "has", "hayas"),
    *("escribes", "eliges", "revisas", "seleccionas", "conserves", "prefieres", "recibes", "envías"),
    *("corrígelo", "corrígelos", "corrígela", "corrígelas", "elígelo", "elígela", "revísalo", "revísala"),
    *("escríbenos", "ponle", "hazlo", "dime", "dinos", "guárdalo", "cópialo", "envíalo", "déjalo", "márcalo"),
)
# tú commands that are also the third person ("se revisa cada fila"): refused where a command
# stands, at the start of a sentence or clause. Not the ones that are nouns too ("Marca", "Prueba",
# "Copia", "Consulta", "Espera" are labels).
TU_COMMANDS = (
    *("elige", "escoge", "escribe", "revisa", "selecciona", "ingresa", "introduce", "pulsa", "presiona"),
    *("haz", "pon", "ve", "ven", "di", "sal", "ten", "agrega", "añade", "busca", "intenta", "vuelve"),
    *("indica", "pega", "sube", "descarga", "cambia", "asigna", "envía", "completa"),
    *("corrige", "verifica", "comprueba", "deja", "guarda", "confirma", "elimina", "borra"),
    *("adjunta", "contacta", "avisa", "usa", "recarga", "solicita", "pide", "lee", "mira"),
    *("acepta", "cancela", "define", "edita", "crea", "conserva", "responde", "comparte"),
)
INFORMAL = re.compile(
    r"\b(?:" + "|".join(TU_WORDS) + r")\b"
    r"|(?:^|[.:;!?¿¡(]\s*)(?:" + "|".join(TU_COMMANDS) + r")\b",
    re.IGNORECASE,
)


def test_the_informal_forms_are_found_and_only_whole_words():
    found = ["Ajuste tu zona horaria.", "Elige un socio.", "Algo falló. Revisa el filtro.", "Corrígelos.", "¿Puedes?"]
    formal = ["Ajuste su zona horaria.", "Elija un socio.", "Se revisa cada fila.", "Estatus actual del tutorial"]

    assert [text for text in found if INFORMAL.search(text)] == found
    assert [text for text in formal if INFORMAL.search(text)] == []


def test_the_spanish_addresses_people_formally():
    """Formal Mexican Spanish (usted) everywhere in the interface: no tú pronoun, possessive or
    verb form in any translation."""
    catalogue = polib.pofile(str(LOCALE / "django.po"))

    found = [
        translation
        for entry in catalogue
        for translation in [entry.msgstr, *entry.msgstr_plural.values()]
        if translation and not entry.obsolete and INFORMAL.search(translation)
    ]

    assert found == []
