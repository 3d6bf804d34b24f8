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
        "print(bool(platform.system()), uuid.uuid4().version)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "4"]  # any OS: the module works, whatever it says


# Rooms a newcomer can walk: a module says one thing, a function does one step.
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def _source_modules():
    package = ROOT / "platform" / "batchwatch"
    return sorted(p for p in package.rglob("*.py") if "migrations" not in p.parts)


def test_no_module_is_over_600_lines():
    long = {
        str(path.relative_to(ROOT)): lines
        for path in _source_modules()
        if (lines := len(path.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_no_function_is_over_80_lines():
    import ast

    long = {}
    for path in _source_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.name}"] = lines
    assert long == {}


def _service_modules():
    package = ROOT / "platform" / "batchwatch"
    return sorted([*package.glob("*/services.py"), *package.glob("*/services/[!_]*.py")])


def test_public_services_are_annotated_and_keyword_only():
    """The architecture page's promise: a public service takes its subject positionally and
    everything else by name, and says the type of each parameter and of what it returns."""
    import ast

    loose = {}
    for path in _service_modules():
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            args = node.args
            positional = [a.arg for a in [*args.posonlyargs, *args.args]]
            unannotated = [
                a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs] if not a.annotation
            ]
            problems = []
            if len(positional) > 1:
                problems.append(f"positional {positional[1:]}")
            if unannotated or node.returns is None:
                problems.append(f"unannotated {unannotated + ['return'] * (node.returns is None)}")
            if problems:
                loose[f"{path.relative_to(ROOT)}:{node.name}"] = "; ".join(problems)
    assert loose == {}
