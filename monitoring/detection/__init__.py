"""The detector: seasonal baselines, the tests, Benjamini–Hochberg, findings and attribution
(docs/monitoring.md, "Detection")."""
