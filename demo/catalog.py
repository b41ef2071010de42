"""Who and what the demo desk is made of: users, partners picked from the bundled reference CSV,
their contacts, and the merchants whose health the desk watches.

Merchant names are invented on purpose: a demo must never suggest that a real company had an
incident. Partners are the real Mexican and international institutions of
`partners/data/partners_reference.csv`, because analysts recognise them; every e-mail address
uses a reserved `.example` domain (RFC 2606), so nothing can ever be delivered to them.
"""

from __future__ import annotations

import csv
import hashlib
import random
import re
import unicodedata
from dataclasses import dataclass, field

from accounts.roles import ANALYST, LEAD, PARTNER_MANAGER
from partners.models import Partner, PartnerContact
from partners.reference import DATA_DIR as PARTNERS_DATA_DIR
from partners.reference import MX_BANKING, US_BUSINESS

DEMO_PASSWORD = "payhealth"  # dev-only; printed by the command, never used outside a demo database
MX_TZ = "America/Mexico_City"
NY_TZ = "America/New_York"


@dataclass(frozen=True)
class DemoUser:
    username: str
    first_name: str
    last_name: str
    role: str | None  # None: the superuser, whose rights do not come from a group
    timezone: str = MX_TZ
    language: str = ""


DEMO_USERS = (
    DemoUser("admin", "Alejandro", "Salinas Cordero", None),
    DemoUser("analyst", "Ana", "López Hernández", ANALYST),
    DemoUser("partner_manager", "Pablo", "Méndez Ortiz", PARTNER_MANAGER),
    DemoUser("lead", "Lucía", "Garza Villarreal", LEAD),
    DemoUser("mariana", "Mariana", "Torres Aguilar", ANALYST, language="es"),
    DemoUser("diego", "Diego", "Ramírez Soto", ANALYST, language="es"),
    DemoUser("emily", "Emily", "Carter", ANALYST, timezone=NY_TZ, language="en"),
)
USER_EMAIL_DOMAIN = "payhealth.example"


@dataclass(frozen=True)
class DemoPartner:
    """A partner picked from the reference CSV, with the settings the CSV does not carry."""

    csv_name: str
    code: str
    name: str
    language: str = "es"
    timezone: str = MX_TZ
    calendar: str | None = MX_BANKING
    country: str | None = None  # None: the CSV's country
    active: bool = True
    folio_prefix: str = "FOL"


_EN_US = {"language": "en", "timezone": NY_TZ, "calendar": US_BUSINESS}

DEMO_PARTNERS = (
    DemoPartner("BBVA México", "bbva-mx", "BBVA México"),
    DemoPartner("Banorte (Grupo Financiero Banorte)", "banorte", "Banorte"),
    DemoPartner("Santander México", "santander-mx", "Santander México"),
    DemoPartner("Banamex (Grupo Financiero Banamex)", "banamex", "Banamex"),
    DemoPartner("HSBC México", "hsbc-mx", "HSBC México"),
    DemoPartner("Scotiabank México", "scotiabank-mx", "Scotiabank México"),
    DemoPartner("Banco Inbursa", "inbursa", "Banco Inbursa"),
    DemoPartner("Banco Azteca", "banco-azteca", "Banco Azteca"),
    DemoPartner("BanCoppel", "bancoppel", "BanCoppel"),
    DemoPartner("Banregio", "banregio", "Banregio"),
    DemoPartner("BanBajío", "banbajio", "BanBajío"),
    DemoPartner("Nu México (Nubank)", "nu-mx", "Nu México"),
    DemoPartner("Prosa (Promoción y Operación, S.A. de C.V.)", "prosa", "Prosa"),
    DemoPartner("E-Global", "e-global", "E-Global"),
    DemoPartner("Carnet", "carnet", "Carnet"),
    DemoPartner("Clip", "clip", "Clip", folio_prefix="CLIP"),
    DemoPartner("Mercado Pago", "mercado-pago", "Mercado Pago", folio_prefix="MP"),
    DemoPartner("Conekta", "conekta", "Conekta", folio_prefix="CNK"),
    DemoPartner("Openpay (BBVA)", "openpay", "Openpay", folio_prefix="OPY"),
    DemoPartner("Visa", "visa", "Visa", folio_prefix="VIS", **_EN_US),
    DemoPartner("Mastercard", "mastercard", "Mastercard", folio_prefix="MC", **_EN_US),
    DemoPartner("American Express", "amex", "American Express", folio_prefix="AXP", **_EN_US),
    DemoPartner("First Data / Fiserv", "fiserv", "Fiserv (First Data)", folio_prefix="INC", **_EN_US),
    DemoPartner("Elavon", "elavon", "Elavon", folio_prefix="INC", **_EN_US),
    DemoPartner("Evertec", "evertec", "Evertec", timezone="America/Puerto_Rico", calendar=None, folio_prefix="EVT"),
    DemoPartner(
        "dLocal",
        "dlocal",
        "dLocal",
        language="en",
        timezone="America/Montevideo",
        calendar=None,
        country="UY",
        folio_prefix="DL",
    ),
    # Kept for history only: engagements never pick an inactive partner.
    DemoPartner("Sr. Pago", "sr-pago", "Sr. Pago", active=False),
)

# The CSV's kinds in the order they are listed; the first one we can map is the primary kind.
_CSV_KINDS = {
    "issuer": Partner.Kind.ISSUER,
    "acquirer": Partner.Kind.ACQUIRER,
    "card_network": Partner.Kind.CARD_NETWORK,
    "clearing_house": Partner.Kind.SWITCH,
    "switch": Partner.Kind.SWITCH,
    "processor": Partner.Kind.PROCESSOR,
    "aggregator": Partner.Kind.AGGREGATOR,
    "wallet": Partner.Kind.AGGREGATOR,
    "cross_border_psp": Partner.Kind.AGGREGATOR,
    "gateway": Partner.Kind.GATEWAY,
}


def partner_kind_from_csv(value: str) -> str | None:
    """`issuer;acquirer` → issuer; `card_network (domestic)` → card_network; regulators → None."""
    for part in value.split(";"):
        base = re.sub(r"\(.*?\)", "", part).strip().lower()
        if base in _CSV_KINDS:
            return _CSV_KINDS[base]
    return None


def partners_reference_rows() -> dict[str, dict[str, str]]:
    with open(PARTNERS_DATA_DIR / "partners_reference.csv", newline="", encoding="utf-8") as handle:
        return {row["name"].strip(): row for row in csv.DictReader(handle)}


# --- Partner contacts --------------------------------------------------------------------------


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(","))


MX_FIRST_NAMES = _names(
    "Alejandra, Arturo, Beatriz, Carlos, Claudia, Daniela, Eduardo, Fernando, Gabriela, Guadalupe, "
    "Héctor, Isabel, Javier, Jorge, Karla, Laura, Luis, Marco, María José, Miguel Ángel, Mónica, Norma, "
    "Óscar, Patricia, Raúl, Ricardo, Rocío, Sergio, Silvia, Verónica, Ximena, Adriana, Emilio, Regina, "
    "Tomás"
)
MX_LAST_NAMES = _names(
    "Aguilar, Alvarado, Becerra, Castañeda, Cervantes, Delgado, Domínguez, Escobar, Esquivel, Figueroa, "
    "Gallardo, Guerrero, Ibarra, Juárez, Lozano, Medina, Montiel, Navarro, Olvera, Pacheco, Quintero, "
    "Rangel, Robles, Salazar, Sandoval, Trejo, Valdez, Vázquez, Zamora, Zúñiga"
)
EN_FIRST_NAMES = _names(
    "Emily, Michael, Sarah, David, Jennifer, Brian, Rachel, Kevin, Laura, Daniel, Megan, Chris, Olivia, Ryan"
)
EN_LAST_NAMES = _names(
    "Johnson, Miller, Thompson, Walsh, Patel, Nguyen, Brooks, Sullivan, Reed, Bennett, Coleman, Foster"
)


@dataclass
class ContactSpec:
    name: str
    local_part: str
    role: str
    language: str  # "" = the partner's
    escalation_level: int
    receives_notices: bool = True
    phone: str = ""


# First-line mailboxes per partner: (name, local part, role). Every partner has one at level 1,
# so every notice has somebody to go to.
_MAILBOXES = {
    "prosa": ("Centro de Atención a Participantes Prosa", "cap.operaciones", PartnerContact.Role.OPERATIONS),
    "e-global": ("Mesa de Control E-Global", "mesa.control", PartnerContact.Role.OPERATIONS),
    "carnet": ("Monitoreo Transaccional Carnet", "monitoreo", PartnerContact.Role.OPERATIONS),
    "visa": ("Visa LAC Client Support", "lac.clientsupport", PartnerContact.Role.OPERATIONS),
    "mastercard": ("Mastercard Customer Operations Services", "cos.latam", PartnerContact.Role.OPERATIONS),
    "amex": ("American Express Network Operations", "network.ops", PartnerContact.Role.OPERATIONS),
    "fiserv": ("Fiserv Merchant Services Operations", "merchant.ops", PartnerContact.Role.OPERATIONS),
    "elavon": ("Elavon Global Operations Desk", "global.ops", PartnerContact.Role.OPERATIONS),
    "dlocal": ("dLocal Merchant Operations", "merchant.operations", PartnerContact.Role.OPERATIONS),
    "evertec": ("Centro de Operaciones Evertec", "centro.operaciones", PartnerContact.Role.OPERATIONS),
    "clip": ("Soporte Comercios Clip", "soporte.comercios", PartnerContact.Role.OPERATIONS),
    "mercado-pago": ("Mercado Pago Integraciones", "integraciones", PartnerContact.Role.OPERATIONS),
    "conekta": ("Conekta Soporte Técnico", "soporte", PartnerContact.Role.TECHNICAL),
    "openpay": ("Openpay Soporte", "soporte", PartnerContact.Role.OPERATIONS),
}
_DEFAULT_MAILBOX = ("Mesa de Control de Tarjetas", "soporte.tarjetas", PartnerContact.Role.OPERATIONS)

# English partners with a Spanish-speaking account manager for Mexico.
_MX_DESK_FOR_EN_PARTNERS = {"visa", "mastercard", "amex", "fiserv", "dlocal"}
# Mexican banks with an English-speaking global operations desk in the escalation chain.
_GLOBAL_DESK_FOR_MX_BANKS = {"hsbc-mx": "HSBC Global Payments Operations", "scotiabank-mx": "Scotiabank Global Ops"}


def ascii_slug(text: str, sep: str = ".") -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", sep, plain).strip(sep)


def email_domain(partner_code: str) -> str:
    return f"{partner_code}.example"


def contact_specs(partner: DemoPartner) -> list[ContactSpec]:
    """Two to four contacts per partner, the same ones on every run (seeded by the code)."""
    rng = random.Random(f"contacts:{partner.code}")
    english = partner.language == "en"
    name, local, role = _MAILBOXES.get(partner.code, _DEFAULT_MAILBOX)
    phone = f"+1 800 555 0{rng.randrange(100, 999):03d}" if english else _mx_phone(rng)
    specs = [ContactSpec(name, local, role, "", 1, phone=phone)]

    def person(first_names, last_names, two_surnames: bool) -> tuple[str, str]:
        first = rng.choice(first_names)
        last = rng.choice(last_names)
        full = f"{first} {last} {rng.choice(last_names)}" if two_surnames else f"{first} {last}"
        return full, f"{ascii_slug(first.split()[0])}.{ascii_slug(last)}"

    if english:
        full, local = person(EN_FIRST_NAMES, EN_LAST_NAMES, False)
        specs.append(ContactSpec(full, local, PartnerContact.Role.ESCALATION, "", 2, phone=_us_phone(rng)))
        if partner.code in _MX_DESK_FOR_EN_PARTNERS:
            full, local = person(MX_FIRST_NAMES, MX_LAST_NAMES, True)
            specs.append(ContactSpec(full, local, PartnerContact.Role.ACCOUNT_MANAGER, "es", 2, phone=_mx_phone(rng)))
    else:
        full, local = person(MX_FIRST_NAMES, MX_LAST_NAMES, True)
        # Some contacts state their language, others leave it to the partner's: both happen.
        specs.append(
            ContactSpec(full, local, PartnerContact.Role.ESCALATION, rng.choice(("", "es")), 2, phone=_mx_phone(rng))
        )
        if partner.code in _GLOBAL_DESK_FOR_MX_BANKS:
            desk = _GLOBAL_DESK_FOR_MX_BANKS[partner.code]
            specs.append(ContactSpec(desk, "global.payments.ops", PartnerContact.Role.OPERATIONS, "en", 3))
    if len(specs) < 4 and rng.random() < 0.55:
        full, local = person(MX_FIRST_NAMES, MX_LAST_NAMES, not english)
        specs.append(
            ContactSpec(
                full,
                local,
                PartnerContact.Role.ACCOUNT_MANAGER,
                "es",
                3,
                receives_notices=rng.random() < 0.5,
                phone=_mx_phone(rng),
            )
        )
    if len(specs) < 4 and rng.random() < 0.4:
        label = "Network Operations Center" if english else "Soporte Técnico Autorizaciones"
        specs.append(ContactSpec(f"{label} {partner.name}", "noc", PartnerContact.Role.TECHNICAL, "", 1))
    return specs


def _mx_phone(rng: random.Random) -> str:
    return f"+52 55 {rng.randrange(1000, 9999)} {rng.randrange(1000, 9999)}"


def _us_phone(rng: random.Random) -> str:
    return f"+1 212 555 0{rng.randrange(100, 999)}"


# --- Merchants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoMerchant:
    name: str
    country: str
    mcc: str
    segment: str
    vertical: str = field(default="", compare=False)


_S, _E, _M, _P = "strategic", "enterprise", "mid_market", "platform"

DEMO_MERCHANTS = (
    DemoMerchant("Aerolíneas Quetzal", "MX", "4511", _S, "airline"),
    DemoMerchant("VuelaSol", "MX", "4511", _E, "airline"),
    DemoMerchant("Aerovía del Pacífico", "MX", "4511", _E, "airline"),
    DemoMerchant("Andes Air", "PE", "4511", _E, "airline"),
    DemoMerchant("Cóndor Sur Líneas Aéreas", "CL", "4511", _M, "airline"),
    DemoMerchant("Hoteles Marea Azul", "MX", "7011", _E, "travel"),
    DemoMerchant("Posadas del Caribe", "MX", "7011", _M, "travel"),
    DemoMerchant("ViajaYa.mx", "MX", "4722", _P, "travel"),
    DemoMerchant("Viagens Atlântico", "BR", "4722", _E, "travel"),
    DemoMerchant("Autobuses Estrella del Norte", "MX", "4131", _E, "transport"),
    DemoMerchant("Renta de Autos Caminos", "MX", "7512", _M, "transport"),
    DemoMerchant("Almacenes Del Valle", "MX", "5311", _S, "retail"),
    DemoMerchant("Súper Ahorro del Bajío", "MX", "5411", _E, "grocery"),
    DemoMerchant("Mercado Fresco Express", "MX", "5411", _M, "grocery"),
    DemoMerchant("Supermercados Cordillera", "CL", "5411", _E, "grocery"),
    DemoMerchant("Tiendas Colibrí", "MX", "5331", _E, "retail"),
    DemoMerchant("Electrónica Centella", "MX", "5732", _E, "retail"),
    DemoMerchant("Loja Verde Eletro", "BR", "5732", _E, "retail"),
    DemoMerchant("Moda Itzel", "MX", "5651", _M, "retail"),
    DemoMerchant("Zapaterías Paso Firme", "MX", "5661", _M, "retail"),
    DemoMerchant("Ferretería Industrial Regia", "MX", "5251", _M, "retail"),
    DemoMerchant("Muebles Casa Nopal", "MX", "5712", _M, "retail"),
    DemoMerchant("Librería El Quijote Digital", "MX", "5942", _M, "retail"),
    DemoMerchant("Juguetería Trompo", "MX", "5945", _M, "retail"),
    DemoMerchant("Óptica Mirada Clara", "MX", "8043", _M, "health"),
    DemoMerchant("Farmacias San Rafael", "MX", "5912", _S, "health"),
    DemoMerchant("Farmacia Salud Total", "CO", "5912", _E, "health"),
    DemoMerchant("Mascotas Felices", "MX", "5995", _M, "retail"),
    DemoMerchant("Tianguis Digital", "MX", "5399", _P, "marketplace"),
    DemoMerchant("Compra Fácil Marketplace", "MX", "5399", _P, "marketplace"),
    DemoMerchant("Bazar Andino", "CO", "5399", _P, "marketplace"),
    DemoMerchant("Tienda Pampa Online", "AR", "5399", _M, "marketplace"),
    DemoMerchant("Antojo Express", "MX", "5814", _P, "food_delivery"),
    DemoMerchant("Comida a Tu Puerta", "MX", "5812", _P, "food_delivery"),
    DemoMerchant("Tacos El Fogón", "MX", "5814", _M, "restaurant"),
    DemoMerchant("Café Altura", "MX", "5814", _E, "restaurant"),
    DemoMerchant("Pizzería Napoli Express", "CO", "5814", _M, "restaurant"),
    DemoMerchant("Rueda Ya", "MX", "4121", _P, "ride_hailing"),
    DemoMerchant("Vamos Movilidad", "CO", "4121", _P, "ride_hailing"),
    DemoMerchant("Trajeto Seguro", "BR", "4121", _P, "ride_hailing"),
    DemoMerchant("TelcoNova Móvil", "MX", "4814", _S, "telecom"),
    DemoMerchant("Conecta Fibra", "MX", "4814", _E, "telecom"),
    DemoMerchant("Señal Andina Telecom", "PE", "4814", _E, "telecom"),
    DemoMerchant("Recargas Al Toque", "MX", "4814", _P, "telecom"),
    DemoMerchant("Seguros Amparo", "MX", "6300", _E, "insurance"),
    DemoMerchant("Aseguradora Horizonte", "MX", "6300", _E, "insurance"),
    DemoMerchant("Protege Auto Seguros", "CO", "6300", _M, "insurance"),
    DemoMerchant("PantallaPlus Streaming", "MX", "4899", _S, "streaming"),
    DemoMerchant("Ritmo Música", "MX", "5815", _E, "streaming"),
    DemoMerchant("Arena Gamer", "MX", "5816", _E, "digital"),
    DemoMerchant("Nuvem Apps", "BR", "5817", _P, "digital"),
    DemoMerchant("Estudia+ Academia en Línea", "MX", "8299", _M, "education"),
    DemoMerchant("Universidad Tecnológica del Golfo", "MX", "8220", _E, "education"),
    DemoMerchant("Gas Natural del Norte", "MX", "4900", _E, "utilities"),
    DemoMerchant("Energía Solar Hogar", "MX", "4900", _M, "utilities"),
    DemoMerchant("Gasolineras Ruta 57", "MX", "5541", _E, "fuel"),
    DemoMerchant("Boletos Ya", "MX", "7922", _P, "ticketing"),
    DemoMerchant("Parque Aventura Xcalli", "MX", "7996", _M, "entertainment"),
    DemoMerchant("Gimnasios Fuerza Total", "MX", "7997", _M, "health"),
    DemoMerchant("Clínica Dental Sonrisa", "MX", "8021", _M, "health"),
    DemoMerchant("Hospital Santa Lucía", "MX", "8062", _E, "health"),
    DemoMerchant("Caja Gourmet Suscripción", "MX", "5968", _M, "subscription"),
)

ACCOUNT_MANAGERS = (
    ("Valeria Cruz", "valeria.cruz"),
    ("Rodrigo Fuentes", "rodrigo.fuentes"),
    ("Camila Ortega", "camila.ortega"),
    ("Santiago Ibarra", "santiago.ibarra"),
    ("Fernanda Ríos", "fernanda.rios"),
    ("Lucas Almeida", "lucas.almeida"),
)

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def merchant_account_id(name: str) -> str:
    """`acct_1` + 15 alphanumerics derived from the name: the same id on every run."""
    number = int.from_bytes(hashlib.sha256(name.encode()).digest(), "big")
    chars = []
    for _ in range(15):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "acct_1" + "".join(chars)


def currency_for(country: str) -> str:
    return "MXN" if country == "MX" else "USD"
