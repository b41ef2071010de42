from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo desk's command (`seed_demo`); no models of its own."""

    name = "demo"
    verbose_name = "Demo desk"
