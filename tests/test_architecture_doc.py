"""docs/architecture.md draws the apps and the imports allowed between them (a Mermaid
flowchart); the layers contract in ``.importlinter`` is what ``lint-imports`` enforces. The
picture must allow exactly what the contract allows."""

import configparser
import re
from itertools import permutations
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
CONTRACT = ROOT / ".importlinter"
PACKAGE = "batchwatch"

_MERMAID = re.compile(r"```mermaid\n(.*?)```", re.DOTALL)
# `a --> b`, `a & b --> c`; a node may carry a label (`a["label"]`), which is not its id.
_EDGE = re.compile(r"^\s*(.+?)\s*-->\s*(.+?)\s*;?\s*$")
_NODE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*(?:\[.*\]|\(.*\))?\s*$")


def _ids(side: str) -> list[str]:
    ids = []
    for part in side.split("&"):
        match = _NODE.match(part)
        assert match, f"not a node: {part!r}"
        ids.append(match.group(1))
    return ids


def diagram() -> tuple[set[str], set[tuple[str, str]]]:
    """The nodes and edges (importer, imported) of the page's flowchart."""
    blocks = [b for b in _MERMAID.findall(DOC.read_text()) if b.lstrip().startswith("flowchart")]
    assert len(blocks) == 1, "docs/architecture.md should have one Mermaid flowchart"
    nodes: set[str] = set()
    edges: set[tuple[str, str]] = set()
    for line in blocks[0].splitlines()[1:]:
        line = line.strip()
        if not line or line.startswith("%%"):
            continue
        match = _EDGE.match(line)
        if match:
            sources, targets = _ids(match.group(1)), _ids(match.group(2))
            nodes.update(sources + targets)
            edges.update((s, t) for s in sources for t in targets)
        else:
            node = _NODE.match(line)
            assert node, f"a line the test does not read: {line!r}"
            nodes.add(node.group(1))
    return nodes, edges


def _app(name: str) -> str:
    name = name.strip().strip("()").strip()
    return name.removeprefix(f"{PACKAGE}.")


def _is_app(name: str) -> bool:
    return (ROOT / "platform" / PACKAGE / name).is_dir()


def contract_layers() -> list[list[tuple[str, bool]]]:
    """The layers contract, highest layer first: each layer's apps, and whether the apps of
    that layer are independent of each other (``|``) or not (``:``). The project's own
    modules (``settings``, ``urls``...) are in the contract but not in the picture of apps."""
    assert CONTRACT.exists(), ".importlinter is missing: the layers are defined there"
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    contracts = [
        parser[name]
        for name in parser.sections()
        if name.startswith("importlinter:contract:")
        and parser[name].get("type", "").strip() == "layers"
    ]
    assert contracts, ".importlinter has no layers contract"
    contract = max(contracts, key=lambda c: len(c.get("layers", "")))
    layers = []
    for line in contract["layers"].strip().splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith(";"):
            continue
        independent = ":" not in line
        apps = [_app(a) for a in re.split(r"[|:]", line)]
        if any(_is_app(app) for app in apps):
            layers.append([(app, independent) for app in apps])
    return layers


def allowed_imports(layers) -> tuple[set[str], set[tuple[str, str]]]:
    """Every (importer, imported) pair the contract allows: any app of a higher layer may
    import any app of a lower one; apps of one layer only if it is not independent."""
    level = {}
    independent = {}
    for index, layer in enumerate(layers):
        for app, alone in layer:
            level[app], independent[app] = index, alone
    allowed = {
        (a, b)
        for a, b in permutations(level, 2)
        if level[a] < level[b] or (level[a] == level[b] and not independent[a])
    }
    return set(level), allowed


def reachable(nodes: set[str], edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """What the picture allows: an arrow, or a path of arrows (layers import all below)."""
    closure = set(edges)
    for middle in nodes:
        for a in nodes:
            if (a, middle) in closure:
                closure.update((a, b) for b in nodes if (middle, b) in closure)
    return {(a, b) for a, b in closure if a != b}


def test_the_picture_draws_every_app_of_the_contract_and_no_other():
    apps, _ = allowed_imports(contract_layers())
    nodes, _ = diagram()
    assert nodes == apps, (
        f"only in the picture: {sorted(nodes - apps)}; "
        f"only in .importlinter: {sorted(apps - nodes)}"
    )


def test_the_picture_allows_exactly_the_imports_the_contract_allows():
    apps, allowed = allowed_imports(contract_layers())
    nodes, edges = diagram()
    drawn = reachable(nodes | apps, edges)
    assert not drawn - allowed, f"drawn but forbidden: {sorted(drawn - allowed)}"
    assert not allowed - drawn, f"allowed but not drawn: {sorted(allowed - drawn)}"


def test_the_picture_draws_every_app():
    nodes, _ = diagram()
    apps = {path.parent.name for path in (ROOT / "platform" / PACKAGE).glob("*/apps.py")}
    assert apps <= nodes, f"apps missing from the picture: {sorted(apps - nodes)}"
