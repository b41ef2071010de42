"""The detector: seasonal baselines, the tests, Benjamini–Hochberg, findings (docs/detection.md)."""
