"""Admin for users and their display preferences."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import ApiToken, Profile
from accounts.services import api_token_revoke, profile_update
from payhealth.admin_forms import LockedFieldsMixin, ReadOnlyAdminMixin, ServiceAdminMixin, ServiceFormMixin
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
    fields = ["user", "timezone", "language"]
    list_display = ["user", "timezone", "language"]
    list_filter = ["language", "timezone"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    ordering = ["user__username"]

    def get_locked_fields(self, request, obj=None):
        return ("user",) if obj is not None else ()


admin.site.unregister(User)


@admin.register(User)
class PayHealthUserAdmin(UserAdmin):
    """Django's user admin with the profile shown on the same page."""

    inlines = [ProfileInline]

    def get_inlines(self, request, obj):
        # The two-step add form sets the password first; the profile comes on the change page.
        return self.inlines if obj is not None else []


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created by their owner on the API tokens page (the secret is shown only there);
    the admin lists them and revokes them, through the same service."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]
    exclude = ["digest"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        for token in queryset.filter(revoked_at__isnull=True):
            api_token_revoke(token=token, actor=request.user)
