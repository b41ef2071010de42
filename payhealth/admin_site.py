"""The Django admin is for superusers alone.

Desk roles (analyst, partner manager, lead; accounts/roles.py) work on the desk's pages, which
check each permission and show what the role may do; the admin is the superuser's tool for
reference data and for users. A desk user made staff by mistake still gets no admin.
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig


class SuperusersAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser


class SuperusersAdminConfig(AdminConfig):
    """`django.contrib.admin` with this site as `admin.site` (named in INSTALLED_APPS)."""

    default_site = "payhealth.admin_site.SuperusersAdminSite"
