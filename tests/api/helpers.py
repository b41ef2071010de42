"""Authenticated API clients for tests: a personal token (Bearer) or a browser session."""

from __future__ import annotations

import itertools

from rest_framework.test import APIClient

from accounts.services import api_token_create

_numbers = itertools.count(1)


def token_client(user, name: str = "tests") -> APIClient:
    """A client sending a fresh token of `user` (each call makes a new, uniquely named token)."""
    _token, plain = api_token_create(user=user, name=f"{name} {next(_numbers)}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plain}")
    return client


def session_client(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client
