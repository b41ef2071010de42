"""What every app's admin shares so that the admin is never a second write path.

The admin saves through the same services as the desk's pages. `ServiceFormMixin` validates a
form by running its service in a savepoint that is always rolled back, so the admin shows the
service's own refusals on the form (never a 500 at save time) and the rules live in one place.
`LockedFieldsMixin` shows fields no service changes without letting anyone edit them.
"""

from __future__ import annotations

import copy

from django.core.exceptions import ValidationError
from django.db import transaction

from payhealth.web import add_service_errors


class _DryRun(Exception):
    """Rolls back the savepoint of a dry run."""


class ServiceFormMixin:
    """A ModelForm that asks the service it will save through whether the data is acceptable.

    Subclasses implement `save_through_service(actor)`, which calls the service with the form's
    cleaned data and returns the saved row; the admin's `save_model` calls it again for real.
    `service_field_map` names the form field for a service's error key where they differ.
    """

    service_field_map: dict[str, str] = {}

    def __init__(self, *args, actor=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.actor = actor

    def save_through_service(self, actor):
        raise NotImplementedError

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            with transaction.atomic():
                self.save_through_service(self.actor)
                raise _DryRun
        except _DryRun:
            pass
        except ValidationError as error:
            add_service_errors(self, error, self.service_field_map)
        return cleaned


class ServiceAdminMixin:
    """A ModelAdmin whose form (a `ServiceFormMixin`) saves through its service, as the request's user."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        class AsTheRequestsUser(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, actor=request.user, **kw)

        AsTheRequestsUser.__name__ = form.__name__
        return AsTheRequestsUser

    def save_model(self, request, obj, form, change):
        become(obj, form.save_through_service(request.user))


def become(obj, saved) -> None:
    """The admin goes on with `obj` (inlines, history, redirect): make it the row as the service saved it."""
    for field in type(obj)._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


class LockedFieldsMixin:
    """Show fields without letting anyone edit them, yet keep them in the form.

    A read-only field is left out of the form, and Django then skips every constraint that
    mentions it, so a bad edit of a neighbouring field reaches the database as an IntegrityError.
    A disabled field keeps its stored value and lets `validate_constraints` see it.
    """

    def get_locked_fields(self, request, obj=None) -> tuple[str, ...]:
        return ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        for name in self.get_locked_fields(request, obj):
            if name in form.base_fields:
                # A copy, so a field declared on a shared form class is never disabled for good.
                field = copy.deepcopy(form.base_fields[name])
                field.disabled = True
                form.base_fields[name] = field
        return form


class ReadOnlyAdminMixin:
    """Rows written only by PayHealth itself (or through pages with their own rules): the admin may
    look, nothing more."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
