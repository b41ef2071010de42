"""The words of the demo: incident titles, summaries, root causes, notes and partner mail.

Spanish texts use the formal register and the Mexican terms of `partners/data/glossary_en_es.csv`
(tasa de aprobación, rechazo, folio, acuse de recibo, hora del centro de México), because that is
how the desk writes to Mexican banks. Every template is formatted with the same context keys
(see `stories.Scenario.context`).
"""

from __future__ import annotations

PRODUCTS = {
    "es": ("débito", "crédito", "empresariales", "prepago"),
    "en": ("debit", "credit", "commercial", "prepaid"),
}

# Parallel lists: the same index is the same title in the other language, so a notice can carry
# the incident's title in the recipient's language.
TITLES = {
    "auth_rate": {
        "es": (
            "Caída en tasa de aprobación {bank} {product} – {network}",
            "Caída en tasa de aprobación de {bank} {product} vía {via}",
            "Aumento de rechazos {code} en {bank} {product} ({network})",
            "Tasa de aprobación de {bank} {product} por debajo de la línea base",
        ),
        "en": (
            "Approval rate drop on {bank} {product} – {network}",
            "Approval rate drop on {bank} {product} via {via}",
            "Spike in {code} declines on {bank} {product} cards ({network})",
            "{bank} {product} approvals below baseline",
        ),
    },
    "cost_rate": {
        "es": (
            "Incremento de cuota de intercambio en {network} {product} (+{bps} pb)",
            "Aumento en costo por transacción con {infra}: +{bps} pb en {network}",
        ),
        "en": (
            "Interchange downgrade on {network} {product} (+{bps} bps)",
            "Cost rate up {bps} bps on {network} through {infra}",
        ),
    },
    "outage": {
        "es": (
            "Caída del servicio de {infra}: rechazos {code} en todas las emisoras",
            "Falla total de autorizaciones en {infra}",
            "Servicio no disponible en {infra} – afectación a {bank}",
        ),
        "en": (
            "{infra} outage – response {code} on all issuers",
            "Authorization outage at {infra}",
            "{infra} unavailable – {bank} authorizations failing",
        ),
    },
    "latency": {
        "es": (
            "Intermitencia y tiempos de espera agotados en {infra}",
            "Latencia elevada en autorizaciones {network} vía {infra} (p95 {p95} s)",
        ),
        "en": (
            "Intermittent timeouts at {infra}",
            "High latency on {network} authorizations via {infra} (p95 {p95} s)",
        ),
    },
    "fraud_spike": {
        "es": (
            "Pico de rechazos por sospecha de fraude en {bank} {product}",
            "Ataque de prueba de tarjetas en {merchant} – BIN {bin}",
        ),
        "en": (
            "Fraud-decline spike on {bank} {product} cards",
            "Card-testing attack on {merchant} – BIN {bin}",
        ),
    },
    "data_accuracy": {
        "es": (
            "Códigos de respuesta mal mapeados por {infra}",
            "Diferencias en archivo de liquidación de {infra}",
        ),
        "en": (
            "Response codes mis-mapped by {infra}",
            "Settlement file mismatch from {infra}",
        ),
    },
}

SUMMARIES = {
    "es": {
        "auth_rate": (
            "Desde las {start_local} (hora del centro de México) la tasa de aprobación de tarjetas de {product} "
            "de {bank} procesadas por {network} bajó de {baseline} a {observed}. Predominan los rechazos {codes}. "
            "Afecta a {merchant_count} comercio(s), entre ellos {merchant}; el resto de las emisoras se mantiene "
            "estable."
        ),
        "cost_rate": (
            "El costo por transacción de {network} {product} subió {bps} pb desde el {start_date}. Las "
            "transacciones de {merchant} se están liquidando con una cuota de intercambio de categoría estándar "
            "en lugar de la preferencial."
        ),
        "outage": (
            "A partir de las {start_local} (hora del centro de México) {infra} responde {codes} a la mayoría de "
            "las autorizaciones. La tasa de aprobación cayó de {baseline} a {observed}. Afectación general a "
            "{merchant_count} comercio(s) monitoreados."
        ),
        "latency": (
            "Tiempos de respuesta de {infra} por encima de lo normal (p95 {p95} s contra 1.2 s habitual) desde "
            "las {start_local}. Aumentan los rechazos {codes} por tiempo de espera agotado."
        ),
        "fraud_spike": (
            "Se detecta un patrón de prueba de tarjetas sobre {merchant}: miles de intentos de bajo monto con "
            "BIN {bin}. {bank} responde {codes}. Se solicitó activar reglas de velocidad."
        ),
        "data_accuracy": (
            "{infra} está reportando códigos de respuesta que no coinciden con los del emisor ({codes}). La "
            "conciliación del {start_date} muestra diferencias en {merchant_count} comercio(s)."
        ),
    },
    "en": {
        "auth_rate": (
            "Since {start_utc} UTC the approval rate on {bank} {product} cards routed via {network} dropped from "
            "{baseline} to {observed}. Declines are dominated by {codes}. {merchant_count} merchant(s) affected, "
            "including {merchant}; other issuers are stable."
        ),
        "cost_rate": (
            "Cost per transaction on {network} {product} is up {bps} bps since {start_date}. {merchant} "
            "transactions are clearing at the standard interchange category instead of the preferred one."
        ),
        "outage": (
            "From {start_utc} UTC {infra} has answered {codes} to most authorizations. Approval rate fell from "
            "{baseline} to {observed} across {merchant_count} monitored merchant(s)."
        ),
        "latency": (
            "{infra} response times are elevated (p95 {p95} s against the usual 1.2 s) since {start_utc} UTC, "
            "with more {codes} declines from timeouts."
        ),
        "fraud_spike": (
            "Card-testing pattern on {merchant}: thousands of low-value attempts on BIN {bin}. {bank} answers "
            "{codes}. Velocity rules requested."
        ),
        "data_accuracy": (
            "{infra} reports response codes that do not match the issuer's ({codes}). The {start_date} "
            "reconciliation shows differences for {merchant_count} merchant(s)."
        ),
    },
}

ROOT_CAUSES = {
    "es": {
        "auth_rate": (
            "Actualización de reglas antifraude del emisor aplicada sin ventana de cambio; {bank} revirtió la "
            "regla a las {end_local}.",
            "Certificado vencido en el enlace entre {via} y {bank}; se renovó y se restableció el servicio.",
        ),
        "cost_rate": (
            "Campo de datos de nivel 2 ausente tras un cambio del adquirente; las transacciones perdieron la "
            "calificación preferencial.",
        ),
        "outage": (
            "Falla eléctrica en el centro de datos principal de {infra}; la conmutación al sitio alterno tardó "
            "más de lo previsto.",
            "Saturación del HSM de {infra} después de una actualización de firmware.",
        ),
        "latency": ("Degradación del enlace de telecomunicaciones entre {infra} y el emisor; se cambió de ruta.",),
        "fraud_spike": ("Ataque automatizado desde un conjunto de IPs; se bloquearon y se ajustaron reglas.",),
        "data_accuracy": ("Tabla de mapeo de códigos desactualizada en {infra}; se corrigió y se reprocesó.",),
    },
    "en": {
        "auth_rate": (
            "Issuer fraud-rule update deployed outside the change window; {bank} rolled it back at {end_utc} UTC.",
            "Expired certificate on the link between {via} and {bank}; renewed and service restored.",
        ),
        "cost_rate": (
            "Level 2 data field dropped after an acquirer release, so transactions lost the preferred rate.",
        ),
        "outage": (
            "Power failure at {infra}'s primary data centre; failover to the secondary site took longer than planned.",
            "HSM saturation at {infra} after a firmware upgrade.",
        ),
        "latency": ("Degraded telecom link between {infra} and the issuer; traffic was rerouted.",),
        "fraud_spike": ("Automated attack from a small IP range; blocked and velocity rules tightened.",),
        "data_accuracy": ("Outdated response-code mapping table at {infra}; fixed and files reprocessed.",),
    },
}

NOTES = {
    "es": (
        "**Hallazgo:** los rechazos se concentran en el BIN `{bin}`. Se descarta problema del comercio: "
        "otras emisoras estables.\n\n- Rechazos {code}: {code_share} % del total\n- Tasa de aprobación: "
        "{observed} (línea base {baseline})",
        "Se levantó reporte con {partner}, folio **{folio}**. Se comprometen a dar actualización en 2 horas.",
        "Llamada con la mesa de control de {partner}: confirman intermitencia en su lado, sin tiempo estimado "
        "aún. Se solicitó escalamiento a nivel 2.",
        "Impacto actualizado:\n\n| Comercio | Intentos | Rechazos adicionales |\n|---|---:|---:|\n"
        "| {merchant} | {attempts} | {excess} |",
        "Mitigación: se activó el ruteo alterno para los BIN afectados. La tasa de aprobación se recupera "
        "gradualmente.",
        "Consulta usada para medir el impacto:\n\n```sql\nselect date_trunc('minute', created) as minuto,\n"
        "       avg(approved::int) as tasa\n  from authorizations\n where issuer = '{bank}'\n group by 1;\n```",
    ),
    "en": (
        "**Finding:** declines are concentrated on BIN `{bin}`. Merchant-side issue ruled out: other issuers "
        "are stable.\n\n- Response {code}: {code_share}% of declines\n- Approval rate: {observed} (baseline "
        "{baseline})",
        "Opened a case with {partner}, reference **{folio}**. They committed to an update within 2 hours.",
        "Call with the {partner} ops desk: they see elevated errors on their side, no ETA yet. Asked for a "
        "level 2 escalation.",
        "Impact refreshed:\n\n| Merchant | Attempts | Excess declines |\n|---|---:|---:|\n"
        "| {merchant} | {attempts} | {excess} |",
        "Mitigation: alternate routing enabled for the affected BINs. Approval rate is recovering.",
        "Query used to size the impact:\n\n```sql\nselect date_trunc('minute', created) as minute,\n"
        "       avg(approved::int) as rate\n  from authorizations\n where issuer = '{bank}'\n group by 1;\n```",
    ),
}

NOTICE_SUBJECTS = {
    "es": {
        "breakage": "[{reference}] Aviso de incidencia: {title}",
        "update": "[{reference}] Actualización de incidencia: {title}",
        "resolution": "[{reference}] Aviso de resolución: {title}",
    },
    "en": {
        "breakage": "[{reference}] Breakage notice: {title}",
        "update": "[{reference}] Incident update: {title}",
        "resolution": "[{reference}] Resolution notice: {title}",
    },
}

NOTICE_BODIES = {
    "es": {
        "breakage": (
            "Estimado equipo de {partner}:\n\n"
            "Les informamos que detectamos una incidencia que afecta transacciones procesadas con ustedes.\n\n"
            "Referencia PayHealth: {reference}\n"
            "Severidad: {severity} · Estado: en investigación\n"
            "Inicio de la afectación: {start_utc} UTC · {start_partner}\n"
            "Alcance: {scope}\n"
            "Síntomas: {symptoms}\n"
            "Impacto medido: tasa de aprobación {baseline} → {observed}; {excess} rechazos adicionales; "
            "monto en riesgo {amount}.\n\n"
            "Les solicitamos amablemente confirmar el acuse de recibo, compartirnos su número de folio y un "
            "tiempo estimado de solución. Nuestra próxima actualización será a las {next_partner}.\n\n"
            "Contacto de escalamiento: {owner}, Mesa de Salud de Pagos.\n\n"
            "Atentamente,\nMesa de Operaciones PayHealth"
        ),
        "update": (
            "Estimado equipo de {partner}:\n\n"
            "Compartimos la actualización de la incidencia {reference} (su folio {folio}).\n\n"
            "La afectación continúa: tasa de aprobación actual {observed} contra {baseline} de línea base. "
            "Agradeceremos nos indiquen el avance de su diagnóstico y un tiempo estimado de solución.\n\n"
            "Próxima actualización: {next_partner}.\n\n"
            "Atentamente,\nMesa de Operaciones PayHealth"
        ),
        "resolution": (
            "Estimado equipo de {partner}:\n\n"
            "Confirmamos que la tasa de aprobación se restableció a los niveles habituales a partir de las "
            "{end_partner}. Damos por resuelta la incidencia {reference} (su folio {folio}).\n\n"
            "Les solicitamos compartirnos el análisis de causa raíz (RCA) en un plazo de 5 días hábiles.\n\n"
            "Agradecemos su apoyo.\n\nAtentamente,\nMesa de Operaciones PayHealth"
        ),
    },
    "en": {
        "breakage": (
            "Dear {partner} team,\n\n"
            "We are seeing an incident affecting transactions processed through you.\n\n"
            "PayHealth reference: {reference}\n"
            "Severity: {severity} · Status: investigating\n"
            "Impact started: {start_utc} UTC · {start_partner}\n"
            "Scope: {scope}\n"
            "Symptoms: {symptoms}\n"
            "Measured impact: approval rate {baseline} → {observed}; {excess} excess declines; "
            "{amount} at risk.\n\n"
            "Please confirm receipt, share your case reference and an ETA. Our next update will be at "
            "{next_partner}.\n\n"
            "Escalation contact: {owner}, Payments Health desk.\n\n"
            "Kind regards,\nPayHealth Operations"
        ),
        "update": (
            "Dear {partner} team,\n\n"
            "Update on {reference} (your reference {folio}).\n\n"
            "Impact is ongoing: current approval rate {observed} against a {baseline} baseline. Please share "
            "your diagnosis so far and an ETA.\n\n"
            "Next update: {next_partner}.\n\n"
            "Kind regards,\nPayHealth Operations"
        ),
        "resolution": (
            "Dear {partner} team,\n\n"
            "Approval rates are back to normal since {end_partner}. We consider {reference} (your reference "
            "{folio}) resolved.\n\n"
            "Please share the root cause analysis (RCA) within 5 business days.\n\n"
            "Thank you for your support.\n\nKind regards,\nPayHealth Operations"
        ),
    },
}

REPLY_BODIES = {
    "es": (
        "Buen día,\n\nAcusamos de recibido su reporte. Se generó el folio {folio} y el caso fue turnado a "
        "nuestra área de autorizaciones. Les compartiremos avances a la brevedad.\n\nSaludos cordiales,\n"
        "{contact}\n{partner}"
    ),
    "en": (
        "Hello,\n\nWe acknowledge receipt of your report. Case {folio} has been opened with our authorization "
        "team; we will share an ETA shortly.\n\nBest regards,\n{contact}\n{partner}"
    ),
}

REASONS = {
    "waiting_on_partner": {
        "es": "En espera de diagnóstico del socio",
        "en": "Waiting for the partner's diagnosis",
    },
    "reopen": {"es": "Reincidencia reportada por el comercio", "en": "Merchant reports the issue again"},
    "severity_up": {"es": "Aumenta el número de comercios afectados", "en": "More merchants affected"},
    "severity_down": {"es": "Impacto menor al estimado", "en": "Impact lower than first estimated"},
}

PARTNER_TIME_LABEL = {"America/Mexico_City": "hora del centro de México"}

SYMPTOMS = {
    "es": {"codes": "rechazos {codes}", "cost": "incremento de costo de {bps} pb"},
    "en": {"codes": "response codes {codes}", "cost": "cost up {bps} bps"},
}

FAILED_DELIVERY_ERROR = "421 4.7.0 Try again later, closing connection (retries exhausted)"
