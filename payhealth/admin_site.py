"""The Django admin is the superusers' tool, and only theirs.

Desk people (analysts, partner managers, leads) work on the desk's pages and API, whose rules
the services enforce; the admin checks only model permissions, so letting a role in would hand
it every model its permissions name, whoever owns the row. `SuperuserAdminSite` therefore lets
in active superusers alone, whatever `is_staff` says (a desk seeded before this rule may still
have staff analysts), and even they save through the services (`payhealth.admin_forms`).
"""

from __future__ import annotations

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig


class SuperuserAdminSite(AdminSite):
    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_superuser


class PayHealthAdminConfig(AdminConfig):
    default_site = "payhealth.admin_site.SuperuserAdminSite"
