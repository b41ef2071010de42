"""Admin for users and their display preferences."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiToken, Profile
from accounts.roles import ROLES
from accounts.services import account_save, api_token_revoke, profile_update
from payhealth.admin_forms import LockedFieldsMixin, ReadOnlyAdminMixin, ServiceAdminMixin, ServiceFormMixin, become
from payhealth.forms import ModelForm

User = get_user_model()


class ProfileInline(ReadOnlyAdminMixin, admin.StackedInline):
    """The user's preferences at a glance; edited on the profile's own admin page (`profile_update`)."""

    model = Profile
    fields = ["timezone", "language"]
    readonly_fields = fields
    show_change_link = True


class ProfileAdminForm(ServiceFormMixin, ModelForm):
    # No Meta: the admin builds the form class with the model and the fields below.

    def save_through_service(self, actor):
        data = self.cleaned_data
        return profile_update(
            user=data.get("user") or self.instance.user, timezone=data["timezone"], language=data["language"]
        )


@admin.register(Profile)
class ProfileAdmin(ServiceAdminMixin, LockedFieldsMixin, admin.ModelAdmin):
    """Saved by `profile_update`, the service of the profile page."""

    form = ProfileAdminForm
    fields = ["user", "timezone", "language", "queue_columns"]
    # Chosen by the person in the queue's column menu (`profile_queue_columns_update`).
    readonly_fields = ["queue_columns"]
    list_display = ["user", "timezone", "language"]
    list_filter = ["language", "timezone"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    ordering = ["user__username"]

    def get_locked_fields(self, request, obj=None):
        return ("user",) if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # a person's preferences go with their account


admin.site.unregister(User)


@admin.register(User)
class PayHealthUserAdmin(UserAdmin):
    """Django's user admin with the profile on the same page, saved by `account_save`: no staff
    flag to set (it follows superuser status) and no permission given one by one (roles only)."""

    inlines = [ProfileInline]
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email")}),
        (_("Access"), {"fields": ("is_active", "is_superuser", "groups")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    readonly_fields = ("last_login", "date_joined")
    list_display = ("username", "email", "first_name", "last_name", "is_superuser", "is_active")
    list_filter = ("is_superuser", "is_active", "groups")
    filter_horizontal = ()

    def get_inlines(self, request, obj):
        # The two-step add form sets the password first; the profile comes on the change page.
        return self.inlines if obj is not None else []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "groups":
            kwargs["queryset"] = Group.objects.filter(name__in=ROLES).order_by("name")
            kwargs["label"] = _("Roles")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        become(obj, account_save(user=obj, actor=request.user, roles=form.cleaned_data.get("groups")))

    def save_related(self, request, form, formsets, change):
        # The roles were saved by `account_save` above; only the inlines are left.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the timeline keeps naming who did what


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tokens are created by their owner on the API tokens page (the secret is shown only there);
    the admin lists them and revokes them, through the same service."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["digest"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=request.user)


admin.site.unregister(Group)


@admin.register(Group)
class RoleAdmin(ReadOnlyAdminMixin, GroupAdmin):
    """The role groups and their permissions, to look at: `accounts.roles` is their one source,
    applied by migrations, so an edit here would be undone by the next one."""
