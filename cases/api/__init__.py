"""The cases app's REST resources: incidents and what hangs off them, merchants, response codes
and saved views. Every write calls the same `cases.services` function as the HTML views."""
