"""The partner-cost API: rate cards (list, detail, draft, rules, approve, diff), the rule tester,
imports (dry run, upload, errors by row, card numbers, a file twice, check), column mappings and
thresholds — the same services and permissions as the pages."""

from __future__ import annotations

from datetime import date
from functools import partial

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from costs.models import CostThresholds, FeeImport, FeeImportMapping, InvoiceLine, RateCard
from costs.services import rate_card_create
from payhealth.outbox import publish
from tests.api.helpers import token_client

CARD = "4111111111111111"
INVOICE = b"period,fee_code,count,volume,amount\n2026-06,IC,100,50000,225.00\n2026-06,ZZ,1,0,4200.50\n"


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.PAYHEALTH_METRICS_UPLOAD_DIR = tmp_path / "uploads"
    return settings.PAYHEALTH_METRICS_UPLOAD_DIR


@pytest.fixture
def v1(acquirer, approved_card):
    return approved_card(
        acquirer,
        [
            {"fee_type": "interchange", "network": "visa", "funding": "debit", "rate_bps": "45"},
            {"fee_type": "interchange", "rate_bps": "150"},
        ],
    )


def test_a_partner_manager_drafts_adds_and_removes_rules_and_a_lead_approves(partner_manager, lead, analyst, v1):
    manager = token_client(partner_manager)
    body = {
        "partner": v1.partner_id,
        "effective_from": "2026-07-01",
        "rules": [{"fee_type": "interchange", "network": "visa", "funding": "debit", "rate_bps": "50"}],
    }
    response = manager.post(reverse("api:rate-card-list"), body, format="json")
    assert response.status_code == 201, response.json()
    draft = response.json()
    assert (draft["version"], draft["state"], draft["created_by"]) == (2, "draft", "pablo")
    assert [(r["network"], r["rate_bps"], r["specificity"]) for r in draft["rules"]] == [("visa", "50.0000", 2)]
    added = manager.post(
        reverse("api:rate-card-add-rule", args=[draft["id"]]), {"fee_type": "markup", "rate_bps": "20"}, format="json"
    )
    assert added.status_code == 201 and added.json()["rate_bps"] == "20.0000"
    removed = manager.post(reverse("api:rate-card-remove-rule", args=[draft["id"]]), {"rule": added.json()["id"]})
    assert removed.status_code == 200 and len(removed.json()["rules"]) == 1
    approve = reverse("api:rate-card-approve", args=[draft["id"]])
    assert manager.post(approve).status_code == 403
    assert token_client(analyst).post(approve).status_code == 403
    response = token_client(lead).post(approve)
    assert response.status_code == 200 and response.json()["state"] == "approved"
    v1.refresh_from_db()
    assert v1.effective_to == date(2026, 7, 1)
    # an approved card never changes
    response = manager.post(reverse("api:rate-card-add-rule", args=[draft["id"]]), {"fee_type": "fx"}, format="json")
    assert response.status_code == 400 and "never changes" in response.json()["error"]["message"]


def test_the_author_cannot_approve_their_own_card(lead, acquirer):
    own = rate_card_create(
        partner=acquirer, effective_from=date(2026, 6, 1), actor=lead, rules=[{"fee_type": "fx", "rate_bps": "1"}]
    )
    response = token_client(lead).post(reverse("api:rate-card-approve", args=[own.pk]))
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "A rate card is approved by another lead than its author."
    assert RateCard.objects.get(pk=own.pk).state == "draft"


def test_bad_rules_are_400_with_the_field_and_write_nothing(partner_manager, acquirer):
    client = token_client(partner_manager)
    url = reverse("api:rate-card-list")
    for rule, field in (
        ({"fee_type": "bribe"}, "rules.0.fee_type"),
        ({"fee_type": "fx", "rate_bps": "-2"}, "rules.0.rate_bps"),
        ({"fee_type": "fx", "minimum_fee": "5", "cap_fee": "1"}, "rules"),
        ({"fee_type": "fx", "network": CARD}, "rules"),
    ):
        body = {"partner": acquirer.pk, "effective_from": "2026-07-01", "rules": [rule]}
        response = client.post(url, body, format="json")
        assert response.status_code == 400, response.json()
        assert field in response.json()["error"]["fields"], response.json()
        assert CARD not in response.content.decode()
    assert not RateCard.objects.exists()


def test_list_filters_detail_and_diff(analyst, v1, partner_manager, make_partner, approved_card):
    v2 = rate_card_create(
        partner=v1.partner,
        effective_from=date(2026, 7, 1),
        actor=partner_manager,
        rules=[
            {"fee_type": "interchange", "network": "visa", "funding": "debit", "rate_bps": "50", "cap_fee": "12"},
            {"fee_type": "scheme", "rate_bps": "3"},
        ],
    )
    other = approved_card(make_partner(), [{"fee_type": "fx", "rate_bps": "1"}])
    client = token_client(analyst)
    listed = client.get(reverse("api:rate-card-list"), {"partner": v1.partner_id, "state": "draft"}).json()
    assert [card["id"] for card in listed["results"]] == [v2.pk]
    assert len(client.get(reverse("api:rate-card-detail", args=[v1.pk])).json()["rules"]) == 2
    diff = client.get(reverse("api:rate-card-diff", args=[v2.pk]), {"against": v1.pk}).json()
    assert (diff["old"]["version"], diff["new"]["version"]) == (1, 2)
    assert [(i["fee_type"], i["keys"], i["rule"]["rate_bps"]) for i in diff["added"]] == [("scheme", {}, "3.0000")]
    assert [(i["fee_type"], i["keys"], i["rule"]["rate_bps"]) for i in diff["removed"]] == [
        ("interchange", {}, "150.0000")
    ]
    assert diff["changed"] == [
        {
            "fee_type": "interchange",
            "keys": {"network": "visa", "funding": "debit"},
            "changes": {"rate_bps": ["45.0000", "50.0000"], "cap_fee": [None, "12.0000"]},
        }
    ]
    response = client.get(reverse("api:rate-card-diff", args=[v2.pk]), {"against": other.pk})
    assert response.status_code == 400 and "against" in response.json()["error"]["fields"]
    assert client.get(reverse("api:rate-card-diff", args=[v2.pk]), {"against": "x"}).status_code == 400


def test_rule_match_explains_the_winner(analyst, v1):
    client = token_client(analyst)
    body = {
        "partner": v1.partner_id,
        "on": "2026-06-10",
        "fee_type": "interchange",
        "cohort": {"network": "Visa", "funding": "debit"},
    }
    answer = client.post(reverse("api:rule-match"), body, format="json").json()
    visa, anyone = v1.rules.get(network="visa"), v1.rules.get(network="")
    assert answer["rule"]["id"] == visa.pk and answer["rate_card"]["version"] == 1
    assert answer["required"] == {"network": "visa", "funding": "debit"}
    assert answer["left_open"] == ["product", "region", "giro", "entry_mode", "program_code"]
    assert answer["reasons"][1] == f"wins over rule {anyone.pk} (specificity 0, priority 0)"
    response = client.post(reverse("api:rule-match"), {**body, "cohort": {"colour": "red"}}, format="json")
    assert response.status_code == 400 and "cohort" in response.json()["error"]["fields"]


def upload(client, partner, content, **extra):
    body = {"partner": partner.pk, "shape": "invoice", "file": SimpleUploadedFile("f.csv", content), **extra}
    return client.post(reverse("api:fee-import-list"), body, format="multipart")


def test_a_dry_run_previews_and_reports_and_writes_nothing(analyst, acquirer, upload_dir):
    client = token_client(analyst)
    bad = INVOICE + b"2026-13,IC,1,1,abc\n"
    answer = upload(client, acquirer, bad, dry_run="true")
    assert answer.status_code == 200
    body = answer.json()
    assert body["rows_read"] == 3 and body["preview"][0]["values"]["amount"] == "225.00"
    assert body["preview"][2]["values"] is None
    assert [(e["row"], e["column"], e["reason"]) for e in body["errors"]] == [(3, "", "Enter the period as YYYY-MM.")]
    assert not FeeImport.objects.exists()
    assert not any(path.is_file() for path in upload_dir.rglob("*"))


def test_an_upload_imports_refuses_bad_rows_card_numbers_and_the_same_file_twice(
    analyst, acquirer, django_capture_on_commit_callbacks
):
    client = token_client(analyst)
    response = upload(client, acquirer, INVOICE + f"2026-06,{CARD},1,1,1\n".encode())
    assert response.status_code == 400 and CARD not in response.content.decode()
    assert [(r["row"], r["column"]) for r in response.json()["error"]["rows"]] == [(3, "fee_code")]
    response = upload(client, acquirer, INVOICE + b"2026-06,IC,1,1,abc\n")
    assert response.status_code == 400
    assert response.json()["error"]["rows"] == [{"row": 3, "column": "amount", "reason": "Enter a number."}]
    assert not FeeImport.objects.exists() and not InvoiceLine.objects.exists()
    response = upload(client, acquirer, b"PK\x03\x04zip", dry_run="true")
    assert response.status_code == 400 and "cannot be read as an XLSX" in response.json()["error"]["message"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = upload(client, acquirer, INVOICE)
    assert response.status_code == 201 and response.json()["months"] == ["2026-06"]
    imported = FeeImport.objects.get()
    assert [(c.func, c.args) for c in callbacks if isinstance(c, partial)] == [
        (publish, ("costs.check_import_task", [imported.pk]))
    ]
    again = upload(client, acquirer, INVOICE)
    assert again.status_code == 400 and again.json()["error"]["rows"][0]["reason"] == "This file was imported before."
    listed = client.get(reverse("api:fee-import-list"), {"partner": acquirer.pk, "shape": "invoice"}).json()
    assert [row["id"] for row in listed["results"]] == [imported.pk]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert client.post(reverse("api:fee-import-check", args=[imported.pk])).status_code == 202
    assert len([c for c in callbacks if isinstance(c, partial)]) == 1


def test_mappings_are_read_and_saved_per_partner_and_shape(analyst, outsider, acquirer):
    client = token_client(analyst)
    url = reverse("api:fee-import-mapping", args=[acquirer.pk, "invoice"])
    assert client.get(url).json()["columns"] == {}
    body = {"columns": {"fee_code": "Concepto", "amount": "Importe"}, "fee_codes": {"IC": "interchange"}}
    response = client.put(url, body, format="json")
    assert response.status_code == 200 and response.json()["columns"] == body["columns"]
    saved = FeeImportMapping.objects.get(partner=acquirer, shape="invoice")
    assert saved.fee_codes == {"IC": "interchange"} and saved.updated_by == analyst
    response = client.put(url, {"columns": {"colour": "x"}, "fee_codes": {"IC": "bribe"}}, format="json")
    assert response.status_code == 400 and set(response.json()["error"]["fields"]) == {"columns", "fee_codes"}
    bad_shape = reverse("api:fee-import-mapping", args=[acquirer.pk, "weekly"])
    assert client.get(bad_shape).status_code == 400
    assert token_client(outsider).get(url).status_code == 403


def test_thresholds_are_read_by_the_desk_and_set_by_leads(analyst, lead, acquirer):
    url = reverse("api:cost-thresholds", args=[acquirer.pk])
    assert token_client(analyst).get(url).json()["deviation_bps"] == "2.0000"  # the defaults
    assert token_client(analyst).put(url, {"deviation_bps": "4"}, format="json").status_code == 403
    response = token_client(lead).put(url, {"deviation_bps": "4", "downgrade_q": 0.01}, format="json")
    assert response.status_code == 200, response.json()
    saved = CostThresholds.objects.get(partner=acquirer)
    assert (str(saved.deviation_bps), saved.downgrade_q, saved.deviation_count) == ("4.0000", 0.01, 100)
    response = token_client(lead).put(url, {"deviation_count": -1}, format="json")
    assert response.status_code == 400 and "deviation_count" in response.json()["error"]["fields"]


def test_a_parquet_file_is_previewed_and_imported(analyst, acquirer):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"period": ["2026-06", "2026-06"], "fee_code": ["IC", "ZZ"], "amount": ["225.00", "4200.50"]})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    client = token_client(analyst)
    content = buffer.getvalue()
    body = upload(client, acquirer, content, dry_run="true").json()
    assert body["rows_read"] == 2 and body["errors"] == []
    assert [row["values"]["fee_code"] for row in body["preview"]] == ["IC", "ZZ"]
    response = upload(client, acquirer, content)
    assert response.status_code == 201 and response.json()["file_name"] == "f.parquet"
    assert sorted(InvoiceLine.objects.values_list("fee_code", flat=True)) == ["IC", "ZZ"]
