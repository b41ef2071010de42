#!/usr/bin/env bash
# Post a monitoring alert to PayHealth: opens an incident for the segment, or updates the open one.
# The answer is 202 with the receipt's `status_url` (GET it for the incident once a worker has
# applied the alert, usually within a second); WAIT=true applies it in the request and answers
# 201/200 with the incident instead (slower: use it only when the caller needs the reference).
#
#   PAYHEALTH_URL=https://payhealth.example.com PAYHEALTH_TOKEN=ph_xxx_yyy MERCHANT=acct_… ./docs/alerts-example.sh
#
# The token belongs to a user with the `alerts.submit_alert` permission (the analyst role, for
# instance): create a user for the monitor, give it that role, and create its token on the
# "API tokens" page. Re-running with the same Idempotency-Key and body returns the first answer
# (header `Idempotent-Replayed: true`); a new alert needs a new key.
set -euo pipefail

: "${PAYHEALTH_URL:=http://127.0.0.1:8000}"
: "${PAYHEALTH_TOKEN:?set PAYHEALTH_TOKEN to a personal API token}"

end=$(date -u +%Y-%m-%dT%H:%M:00Z)
start=$(date -u -d '-15 minutes' +%Y-%m-%dT%H:%M:00Z 2>/dev/null || date -u -v-15M +%Y-%m-%dT%H:%M:00Z)
merchant="${MERCHANT:?set MERCHANT to a merchant account id (acct_…) from the Merchants page}"
key="${IDEMPOTENCY_KEY:-grafana-auth-rate-$(date -u +%Y%m%d%H%M)}"
query=""
if [ "${WAIT:-false}" = "true" ]; then query="?wait=true"; fi

curl --fail-with-body --silent --show-error \
  -X POST "$PAYHEALTH_URL/api/v1/alerts/$query" \
  -H "Authorization: Bearer $PAYHEALTH_TOKEN" \
  -H "Content-Type: application/json" \
  -H "Idempotency-Key: $key" \
  --data @- <<JSON
{
  "segment": {"merchant": "$merchant", "partner": "prosa", "issuer": "bbva-mx",
              "network": "visa", "country": "MX", "bin_prefix": "415231"},
  "window": {"start": "$start", "end": "$end"},
  "baseline_approval_rate": 0.92,
  "observed_approval_rate": 0.74,
  "attempts": 1840,
  "failed_attempts": 478,
  "volume_at_risk": {"amount": 412350.00, "currency": "MXN"},
  "decline_codes": [{"code": "91", "count": 231}, {"code": "05", "count": 88}],
  "severity_hint": "sev2",
  "source": "grafana-auth-rate"
}
JSON
echo
