"""The repository layout rules that keep imports sane (DEVELOPERS.md, 'Layout')."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_platform_is_not_a_package():
    # A package named `platform` would shadow the standard library's module.
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_stdlib_platform_and_batchwatch_import_from_the_repo_root():
    code = (
        "import platform, uuid, batchwatch; "
        "assert platform.__file__.endswith('platform.py'), platform.__file__; "
        "print(platform.system(), uuid.uuid4().version)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["Linux", "4"]
