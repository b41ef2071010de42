"""Per-action permissions that fail closed.

Every API view declares `action_permissions`: a mapping from the viewset action (`list`,
`retrieve`, `create`, `partial_update`, `transition`, ...) or, for a plain APIView, the lower-case
HTTP method, to the Django permissions it needs. An action that is not listed is refused, so a
new action is closed until someone decides who may call it. `()` means any signed-in user.
"""

from __future__ import annotations

from rest_framework.exceptions import MethodNotAllowed
from rest_framework.permissions import BasePermission


class ActionPermissions(BasePermission):
    message = "You do not have permission to perform this action."

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not _handles(view, request):  # an unmapped method is a 405, not a 403
            raise MethodNotAllowed(request.method)
        needed = view_action_permissions(view, request)
        if needed is None:
            return False
        return user.has_perms(needed)


def _handles(view, request) -> bool:
    method = request.method.lower()
    action_map = getattr(view, "action_map", None)
    if action_map is not None:
        return method in action_map or method == "options"
    return hasattr(view, method)


def view_action_permissions(view, request) -> tuple[str, ...] | None:
    """The permissions the view's current action needs, or None when the action is not listed."""
    table = getattr(view, "action_permissions", None)
    if table is None:
        return None
    action = getattr(view, "action", None) or request.method.lower()
    if action == "metadata":  # OPTIONS on a viewset: allowed to whoever may list/retrieve
        action = "list" if "list" in table else "retrieve"
    needed = table.get(action)
    return None if needed is None else tuple(needed)
