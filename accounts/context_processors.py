from accounts.roles import role_of


def shell(request):
    """What the base layout needs on every page: the viewer's role and time zone name."""
    user = getattr(request, "user", None)
    return {
        "user_role": role_of(user) if user is not None else None,
        "timezone_name": getattr(request, "timezone_name", ""),
    }
