from accounts.roles import ROLE_LABELS, role_of


def shell(request):
    """What the base layout needs on every page: the viewer's role and time zone name."""
    user = getattr(request, "user", None)
    role = role_of(user) if user is not None else None
    return {
        "user_role": ROLE_LABELS.get(role),
        "timezone_name": getattr(request, "timezone_name", ""),
    }
