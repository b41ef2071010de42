"""Admin for users and their display preferences."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from accounts.models import Profile

User = get_user_model()


class ProfileInline(admin.StackedInline):
    model = Profile
    can_delete = False
    fields = ["timezone", "language"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "timezone", "language"]
    list_filter = ["language", "timezone"]
    search_fields = ["user__username", "user__email", "user__first_name", "user__last_name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    ordering = ["user__username"]


admin.site.unregister(User)


@admin.register(User)
class PayHealthUserAdmin(UserAdmin):
    """Django's user admin with the profile edited on the same page."""

    inlines = [ProfileInline]

    def get_inlines(self, request, obj):
        # The two-step add form sets the password first; the profile comes on the change page.
        return self.inlines if obj is not None else []
