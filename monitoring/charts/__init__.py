"""Charts of payment data: series aggregated in PostgreSQL (`series`), drawn as server-rendered
SVG (`svg`) in the manner of the SLA reports. docs/charts.md describes each chart."""
