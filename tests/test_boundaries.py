"""The intended boundaries, checked mechanically from the source (every import, including
those inside functions; imports only for type checkers are left out):

- the screens (and the app that holds them) reach the workflow only through the session:
  they import the session, the form they edit, the answers (pure), the error types and the
  paths; nothing below (the transaction, the checks, the health probes, the planner, the
  host's reading) but through the session;
- the core (answers, model, plan, formats, steps, the certificate route planning, ...) is
  pure: it never imports textual, subprocess, the transaction, the checks or the UI, not
  even through another module;
- nothing imports the CLI, and nothing below the session imports it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "jitsiwizard"

UI = ("jitsiwizard.screens",)
UI_MAY_IMPORT = ("jitsiwizard.workflow.session", "jitsiwizard.answers",
                 "jitsiwizard.workflow.form", "jitsiwizard.errors", "jitsiwizard.paths",
                 "jitsiwizard.screens")
CORE = ("jitsiwizard.answers", "jitsiwizard.host.facts", "jitsiwizard.host.prefill",
        "jitsiwizard.host.prosody_auth", "jitsiwizard.plan", "jitsiwizard.formats",
        "jitsiwizard.paths", "jitsiwizard.errors", "jitsiwizard.workflow.form",
        "jitsiwizard.workflow.planned")
CORE_MUST_NOT = ("textual", "rich", "subprocess", "jitsiwizard.apply", "jitsiwizard.checks",
                 "jitsiwizard.workflow.session", "jitsiwizard.cli", "jitsiwizard.screens")


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(path: Path, top: Path = PACKAGE) -> set[str]:
    """Every module `path` imports, at any depth, as absolute dotted names."""
    tree = ast.parse(path.read_text(), str(path))
    own = module_name(path, top)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            # `from jitsiwizard import plan` imports the module jitsiwizard.plan.meeting
            found.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def reachable(name: str) -> dict[str, str]:
    """Every module that importing `name` can load, directly or through other modules of
    the package (a package's __init__ included): imported name -> the module importing it."""
    seen: dict[str, str] = {}
    stack = [name]
    while stack:
        current = stack.pop()
        for imported in imports_of(MODULES[current]):
            parts = imported.split(".")
            for depth in range(1, len(parts) + 1):
                step = ".".join(parts[:depth])
                if step in seen or step == name:
                    continue
                if step in MODULES or depth == len(parts):
                    seen[step] = current
                if step in MODULES:
                    stack.append(step)
    return seen


def direct_violations(sources: dict[str, Path], rule) -> list[str]:
    return [f"{name} imports {imported}" for name, path in sources.items()
            for imported in sorted(imports_of(path)) if rule(imported)]


def violations(sources: dict[str, Path], rule) -> list[str]:
    """What the sources reach, directly or not, that breaks `rule`."""
    found = []
    for name in sources:
        for imported, via in sorted(reachable(name).items()):
            if rule(imported):
                found.append(f"{name} reaches {imported} (imported by {via})")
    return found


def test_the_modules_are_found():
    assert "jitsiwizard.workflow.session" in MODULES and "jitsiwizard.screens.review" in MODULES
    assert any(within(m, CORE) for m in MODULES)


def test_screens_reach_the_workflow_only_through_the_session():
    ui = {n: p for n, p in MODULES.items() if within(n, UI)}
    assert ui
    bad = direct_violations(ui, lambda m: m.startswith("jitsiwizard")
                     and m != "jitsiwizard" and not within(m, UI_MAY_IMPORT))
    assert bad == []


def test_the_core_is_pure():
    core = {n: p for n, p in MODULES.items() if within(n, CORE)}
    assert len(core) >= 10
    bad = violations(core, lambda m: within(m, CORE_MUST_NOT))
    assert bad == []


def test_nothing_imports_the_cli():
    others = {n: p for n, p in MODULES.items() if n not in ("jitsiwizard.cli.main",
                                                            "jitsiwizard.__main__",
                                                            "jitsiwizard.start")}
    assert violations(others, lambda m: within(m, ("jitsiwizard.cli.main",))) == []


@pytest.mark.parametrize("source, rule, expected", [
    ("from jitsiwizard.plan.meeting import build\n", "ui", True),
    ("from jitsiwizard.workflow.bridges import preflight\n", "ui", True),
    ("import subprocess\n", "core", True),
    ("def f():\n    from jitsiwizard import apply\n", "core", True),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from jitsiwizard.apply import x\n",
     "core", False),
    ("from jitsiwizard.workflow.session import Session\n", "ui", False),
])
def test_the_checker_catches_a_forbidden_import(tmp_path, source, rule, expected):
    """The contracts fail on a forbidden import, wherever it sits in the module."""
    fake = tmp_path / "jitsiwizard" / "screens" / "fake.py"
    fake.parent.mkdir(parents=True)
    fake.write_text(source)
    imported = imports_of(fake, tmp_path / "jitsiwizard")
    if rule == "ui":
        hit = any(m.startswith("jitsiwizard") and m != "jitsiwizard"
                  and not within(m, UI_MAY_IMPORT) for m in imported)
    else:
        hit = any(within(m, CORE_MUST_NOT) for m in imported)
    assert hit == expected
