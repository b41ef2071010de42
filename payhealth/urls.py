from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from accounts import views as account_views
from cases.views import overview as overview_views
from cases.views import queue as queue_views

urlpatterns = [
    path("", queue_views.incident_list, name="home"),  # the analysts' home is the queue
    path("overview/", overview_views.overview, name="overview"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", account_views.profile_edit, name="profile"),
    path("accounts/tokens/", account_views.api_tokens, name="api_tokens"),
    path("accounts/tokens/<int:pk>/revoke/", account_views.api_token_revoke_view, name="api_token_revoke"),
    path("", include("cases.urls")),
    path("", include("partners.urls")),
    path("", include("alerts.urls")),
    path("webhooks/", include("webhooks.urls")),
    path("api/v1/", include("payhealth.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
