"""Alert intake from monitoring: alerts open or update incidents, de-duplicated by the
fingerprint of the segment they measure, idempotent per `Idempotency-Key`, with severity from
rules the leads edit."""
