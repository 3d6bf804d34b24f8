"""Print line coverage per Batchwatch app from a coverage data file (.ci/run, after the
SQLite leg measured it): one line per app with its statements and the share covered.

Every module of the package counts, imported or not (a module no test imports is 0 %, not
absent); migrations are left out as [tool.coverage.run] omits them.

    .venv/bin/python .ci/coverage_by_app.py [DATA_FILE]   (default: $COVERAGE_FILE or .coverage)
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

import coverage

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "platform" / "batchwatch"


def app_of(path: Path) -> str:
    parts = path.relative_to(PACKAGE).parts
    return parts[0] if len(parts) > 1 else "(project)"  # settings.py, urls.py, celery.py...


def main(data_file: str) -> int:
    if not Path(data_file).exists():
        print(f"no coverage data at {data_file}", file=sys.stderr)
        return 1
    cov = coverage.Coverage(data_file=data_file, config_file=str(ROOT / "pyproject.toml"))
    cov.load()
    statements: dict[str, int] = defaultdict(int)
    missing: dict[str, int] = defaultdict(int)
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        _, lines, _, missed, _ = cov.analysis2(str(path))
        statements[app_of(path)] += len(lines)
        missing[app_of(path)] += len(missed)
    print(f"{'app':<12} {'statements':>10} {'covered':>8}")
    for app in sorted(statements):
        print(f"{app:<12} {statements[app]:>10} {percent(statements[app], missing[app]):>8}")
    total, missed_total = sum(statements.values()), sum(missing.values())
    print(f"{'total':<12} {total:>10} {percent(total, missed_total):>8}")
    return 0


def percent(statements: int, missing: int) -> str:
    return f"{100 * (statements - missing) / statements:.1f}%" if statements else "-"


if __name__ == "__main__":
    default = os.environ.get("COVERAGE_FILE", str(ROOT / ".coverage"))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else default))
