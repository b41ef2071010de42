"""The post-incident report: one partner-safe account of an incident, in English or Spanish, as an
HTML page and as a PDF rendered from the same HTML, attachable to a draft notice (docs/pir.md).

Layers: `views | api` → `attach` → `render` → `report` → `extensions`.
"""
