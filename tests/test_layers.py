"""The layers of docs/architecture.md, kept true: a package may import only itself and the
packages below it, at the top of a module or inside a function alike."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "modelarena"

# Bottom first. A package may import itself and the packages of the layers below its own;
# packages of one layer are independent of each other (rating knows no database).
LAYERS = [
    ("config", "errors", "protocol", "vocabulary", "secret_box"),
    ("store", "rating", "web"),
    ("engines",),
    ("serving",),
    ("arena",),
    ("judge",),
    ("train",),
    ("platform",),
    ("cli",),
]
PACKAGES = [package for layer in LAYERS for package in layer]


def layer_of(path: Path) -> str:
    """The layer of a module file: its package below modelarena, or its own name."""
    relative = path.relative_to(SOURCE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_layers(source: str) -> list[tuple[int, str]]:
    """(line, layer) of every `modelarena.X` this source imports, however deep."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "modelarena":
                names = [f"modelarena.{alias.name}" for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "modelarena" and len(parts) > 1:
                found.append((node.lineno, parts[1]))
    return found


def upward_imports(layer: str, source: str) -> list[str]:
    """The imports of a module of `layer` that point up (or sideways to a layer above)."""
    level = next(i for i, packages in enumerate(LAYERS) if layer in packages)
    below = {package for packages in LAYERS[:level] for package in packages}
    allowed = below | {layer, "__init__", "__version__"}
    return [
        f"line {line}: {layer} imports {target}"
        for line, target in imported_layers(source)
        if target not in allowed
    ]


def test_every_module_imports_only_its_own_layer_and_those_below():
    violations = []
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" in path.parts or path == SOURCE / "__init__.py":
            continue
        layer = layer_of(path)
        assert layer in PACKAGES, f"{path.relative_to(SOURCE)}: add its package to LAYERS"
        violations += [
            f"{path.relative_to(SOURCE)} {v}" for v in upward_imports(layer, path.read_text())
        ]
    assert not violations, "\n".join(violations)


def test_the_check_catches_an_upward_import_even_inside_a_function():
    lazy = "def load():\n    from modelarena.arena.assembly import build_arena\n"
    assert upward_imports("serving", lazy) == ["line 2: serving imports arena"]
    assert upward_imports("engines", "import modelarena.serving.router\n")
    assert upward_imports("rating", "from modelarena import store\n")
    assert upward_imports("arena", "from modelarena.serving.router import Router\n") == []


def test_only_the_store_speaks_sql():
    """Queries, sessions and the database driver's errors stay inside `store/`."""
    outside = []
    for path in sorted(SOURCE.rglob("*.py")):
        if layer_of(path) == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            )
            outside += [
                f"{path.relative_to(SOURCE)}:{node.lineno} imports {name}"
                for name in names
                if name.split(".")[0] in ("sqlalchemy", "alembic")
            ]
    assert not outside, "\n".join(outside)
