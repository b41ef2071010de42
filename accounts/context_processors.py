from accounts.roles import ROLE_LABELS, role_of
from payhealth.web import full_path_without_card_numbers


def shell(request):
    """What the base layout needs on every page: the viewer's role and time zone name, and the
    page's own address to come back to (its query string never carries a card number)."""
    user = getattr(request, "user", None)
    role = role_of(user) if user is not None else None
    return {
        "user_role": ROLE_LABELS.get(role),
        "timezone_name": getattr(request, "timezone_name", ""),
        "return_path": full_path_without_card_numbers(request),
    }
