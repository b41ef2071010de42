"""The REST API's shared parts: authentication, per-action permissions, the cursor
pagination, the one error format, per-token throttling and the OpenAPI schema hooks.

Resources live with their apps (`cases/api/`, `partners/api/`, ...) and are mounted under
`/api/v1/` by `payhealth/api/urls.py`. Every write goes through the same service as the UI.
"""
