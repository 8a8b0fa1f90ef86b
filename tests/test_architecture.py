"""The structure ARCHITECTURE.md describes, checked: imports point down (``lint-imports`` runs the
contracts of pyproject.toml in ``make test``), none is excused, and none hides in a function.

grimp, which import-linter uses, sees imports inside functions too, so a local import cannot dodge
a contract; but a local import that dodges a cycle, or makes a module's dependencies hard to see,
is still a design smell. The few kept have a reason each, listed here.
"""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("indexer", "membership", "model", "search_api")

# (module, function, imported module as written) -> why it is imported there
LOCAL_IMPORTS_ALLOWED = {
    ("indexer/stores.py", "open_store", ".tantivy_store"):
        "a store's backend loads only when an index of that kind is opened",
    ("indexer/stores.py", "open_store", ".es_store"):
        "the Elasticsearch client loads only for an Elasticsearch-backed index",
    ("search_api/cli.py", "cmd_serve", ".app"):
        "Flask, gunicorn and the worker load only for `serve`: every other command starts faster",
    ("search_api/cli.py", "cmd_serve", ".server"): "as .app",
    ("search_api/cli.py", "cmd_serve", ".worker"): "as .app",
}


def local_project_imports(path: Path, root: Path = ROOT) -> set[tuple[str, str, str]]:
    """``(file, function, module)`` for each import of a project module inside a function."""
    found = set()
    rel = path.relative_to(root).as_posix()
    for fn in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom):
                module = "." * node.level + (node.module or "")
                if node.level or module.split(".")[0] in PACKAGES:
                    found.add((rel, fn.name, module))
            elif isinstance(node, ast.Import):
                found |= {(rel, fn.name, a.name) for a in node.names if a.name.split(".")[0] in PACKAGES}
    return found


def test_no_project_module_is_imported_inside_a_function_without_a_reason():
    found = set()
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found |= local_project_imports(path)
    unexplained = sorted(found - LOCAL_IMPORTS_ALLOWED.keys())
    assert not unexplained, ("import these at module level (move code if that makes a cycle), or add "
                             f"them with a reason to LOCAL_IMPORTS_ALLOWED: {unexplained}")
    assert not sorted(LOCAL_IMPORTS_ALLOWED.keys() - found), "allowed local imports that are gone: drop them"


def test_the_scan_sees_local_imports_of_each_form(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text("import os\n\ndef f():\n    import indexer.build\n    from . import x\n"
                      "    from membership.bloom import BloomFilter\n    import numpy\n\n"
                      "class C:\n    def m(self):\n        from model.generate import Generator\n")
    assert local_project_imports(source, tmp_path) == {
        ("mod.py", "f", "indexer.build"), ("mod.py", "f", "."), ("mod.py", "f", "membership.bloom"),
        ("mod.py", "m", "model.generate")}


def test_the_import_contracts_excuse_nothing():
    """Issue 17's ratchet is spent: no contract ignores an import, and the four are all there."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contracts = {c["id"]: c for c in config["contracts"]}
    assert set(contracts) == {"layers", "acyclic", "model", "flask"}
    assert contracts["layers"]["layers"] == ["search_api", "model | indexer", "membership"]
    assert {name: c["ignore_imports"] for name, c in contracts.items() if c.get("ignore_imports")} == {}
