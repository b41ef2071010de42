"""Payment data: authorization outcome counts per segment and time bucket (docs/monitoring.md)."""
