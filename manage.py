#!/usr/bin/env python
"""Django's command-line utility for Batchwatch."""

import os
import sys
from pathlib import Path

# platform/ is the source root (not a package: a package named `platform` would shadow the
# standard library). Put it on the path so manage.py works without an editable install.
sys.path.insert(0, str(Path(__file__).resolve().parent / "platform"))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchwatch.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        # A settings mistake is the operator's to fix: say what, without a traceback.
        sys.stderr.write(f"Batchwatch is not configured correctly: {exc}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
