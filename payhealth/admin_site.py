"""The admin site: for superusers alone, and no admin form or URL keeps a card number.

Desk people (analysts, partner managers, leads) work on the desk's pages and API, whose rules
the services enforce; the admin checks only model permissions, so letting a role in would hand
it every model its permissions name, whoever owns the row. The site therefore lets in active
superusers alone, whatever `is_staff` says (a desk seeded before this rule may still have staff
analysts), and even they save through the services (`payhealth.admin_forms`).

Installed in place of `django.contrib.admin` (its `AdminConfig` names this site as the default
one), so every ModelAdmin registered, ours and the third-party apps' alike, is covered the day
it is registered: its forms and its inline forms refuse a card number in any field
(`payhealth.forms.CardNumberFreeForm`), and a list searched or filtered with one is answered
with the card-number message and the same list with the number masked in its address.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import admin, messages
from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig
from django.shortcuts import redirect

from payhealth.forms import card_number_free
from payhealth.pan import CARD_NUMBER_MESSAGE, contains_card_number
from payhealth.web import full_path_without_card_numbers


def card_number_free_admin(admin_class: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """`admin_class` whose forms, and its inlines' forms, refuse card numbers."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        return card_number_free(super(wrapped, self).get_form(request, obj, change=change, **kwargs))

    def get_formsets_with_inlines(self, request, obj=None):
        for formset, inline in super(wrapped, self).get_formsets_with_inlines(request, obj):
            formset.form = card_number_free(formset.form)
            yield formset, inline

    attributes = {
        "__module__": admin_class.__module__,
        "__qualname__": admin_class.__qualname__,
        "__doc__": admin_class.__doc__,
        "get_form": get_form,
        "get_formsets_with_inlines": get_formsets_with_inlines,
    }
    wrapped = type(admin_class.__name__, (admin_class,), attributes)
    return wrapped


class PayHealthAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        user = request.user
        return user.is_active and user.is_superuser

    def register(self, model_or_iterable, admin_class=None, **options):
        super().register(model_or_iterable, card_number_free_admin(admin_class or admin.ModelAdmin), **options)

    def admin_view(self, view, cacheable=False):
        checked = super().admin_view(view, cacheable)

        @wraps(view)
        def inner(request, *args, **kwargs):
            if request.method == "GET" and contains_card_number(dict(request.GET.lists())):
                messages.error(request, CARD_NUMBER_MESSAGE)
                return redirect(full_path_without_card_numbers(request))
            return checked(request, *args, **kwargs)

        return inner


class PayHealthAdminConfig(DjangoAdminConfig):
    default_site = "payhealth.admin_site.PayHealthAdminSite"
