"""The partner-cost pages under /costs/ (the API lives in `costs/api/`)."""

from django.urls import path

from costs.views import findings

app_name = "costs"

urlpatterns: list = [
    path("findings/", findings.finding_list, name="finding_list"),
    path("findings.csv", findings.finding_list_csv, name="finding_list_csv"),
    path("findings/<int:pk>/", findings.finding_detail, name="finding_detail"),
    path("findings/<int:pk>/decide/", findings.finding_decide, name="finding_decide"),
    path("matrix/", findings.matrix, name="matrix"),
    path("matrix.csv", findings.matrix_csv, name="matrix_csv"),
]
