#!/usr/bin/env python
"""Django's command-line utility for PayHealth."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payhealth.settings.local")
    from payhealth.config import ConfigError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.exit(f"payhealth: configuration error: {exc}")


if __name__ == "__main__":
    main()
