"""The intended boundaries are import-linter's contracts in pyproject.toml ([tool.importlinter]):
the layers, the pure core, the screens' reach, apply's own layers, and who may import the CLI.
`lint-imports` checks them (scripts/test runs it beside ruff); here they are shown to hold, and
to fail on a planted violation, on a copy of the package. Only what import-linter cannot say
is checked here by hand: that the screens' contract, a list of what they may not import, still
names every module outside what they may."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "jitsiwizard"
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

# What the screens may import: the session and the form (through which they reach the work),
# the answers, the errors and the paths, and each other.
SCREENS_MAY_IMPORT = ("jitsiwizard.workflow.session", "jitsiwizard.workflow.form",
                      "jitsiwizard.answers", "jitsiwizard.errors", "jitsiwizard.paths",
                      "jitsiwizard.screens")


def contract(contract_id: str) -> dict:
    (found,) = [c for c in CONTRACTS["contracts"] if c.get("id") == contract_id]
    return found


def lint_imports(top: Path) -> tuple[int, str]:
    """lint-imports run in `top`, where it finds pyproject.toml and imports the package from;
    (exit code, its report without colours)."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(top), "LANG": "C.UTF-8", "NO_COLOR": "1"}
    proc = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=top, env=env,
                          capture_output=True, text=True, timeout=120)
    return proc.returncode, re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)


def broken(report: str) -> set[str]:
    """The names of the contracts the report says are broken."""
    names = [c["name"] for c in CONTRACTS["contracts"]]
    return {name for line in report.splitlines() for name in names
            if line.startswith(name) and line.rstrip().endswith("BROKEN")}


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The package and pyproject.toml copied, untouched; each test copies it again to plant."""
    top = tmp_path_factory.mktemp("boundaries")
    shutil.copytree(PACKAGE, top / "jitsiwizard", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", top / "pyproject.toml")
    return top


def test_the_untouched_copy_keeps_every_contract(copy):
    code, report = lint_imports(copy)
    assert code == 0, report
    assert broken(report) == set()
    assert re.search(rf"Contracts: {len(CONTRACTS['contracts'])} kept, 0 broken", report), report


LAYERS = contract("layers")["name"]
PURE = contract("pure-core")["name"]
SCREENS = contract("screens")["name"]
APPLY = contract("apply-layers")["name"]
CLI = contract("cli")["name"]


@pytest.mark.parametrize(("module", "planted", "contracts"), [
    # a pure format module reaching up to the session
    ("formats/text.py", "import jitsiwizard.workflow.session\n", {LAYERS, PURE}),
    # the host layer starting a process, inside a function
    ("host/prefill.py", "def run():\n    import subprocess\n    return subprocess\n", {PURE}),
    # a screen importing the planner instead of asking the session
    ("screens/welcome.py", "from jitsiwizard.plan import steps\n", {SCREENS}),
    # the lowest module of apply importing the transaction
    ("apply/fsio.py", "def late():\n    from jitsiwizard.apply import transaction\n", {APPLY}),
    # the health checks importing the CLI
    ("health/probes.py", "from jitsiwizard.cli import main\n", {LAYERS, CLI}),
])
def test_a_planted_violation_breaks_its_contract(copy, tmp_path, module, planted, contracts):
    top = tmp_path / "planted"
    shutil.copytree(copy, top)
    target = top / "jitsiwizard" / module
    target.write_text(target.read_text() + "\n" + planted)
    code, report = lint_imports(top)
    assert code != 0, report
    assert contracts <= broken(report), report


def test_the_screens_contract_names_every_module_outside_their_allow_list():
    """A new module is forbidden to the screens until it is put on their allow-list: the
    forbidden contract lists modules, so it must name each new one (the layers above the
    screens are theirs to forbid)."""
    screens = contract("screens")
    assert screens["source_modules"] == ["jitsiwizard.screens"]
    layers = [layer.strip() for layer in contract("layers")["layers"]]
    above = {f"jitsiwizard.{name}" for name in layers[: layers.index("screens")]}
    forbidden = set(screens["forbidden_modules"])

    def modules(package: Path, dotted: str) -> set[str]:
        return {f"{dotted}.{p.stem}" for p in package.iterdir()
                if (p.suffix == ".py" and p.stem != "__init__")
                or (p.is_dir() and (p / "__init__.py").exists())}

    # the workflow is on the list in part (the session, the form): its modules one by one
    candidates = (modules(PACKAGE, "jitsiwizard") - {"jitsiwizard.workflow"}) | modules(
        PACKAGE / "workflow", "jitsiwizard.workflow")
    allowed = {m for m in candidates if any(m == a or m.startswith(a + ".")
                                           for a in SCREENS_MAY_IMPORT)}
    assert {"jitsiwizard.workflow.session", "jitsiwizard.answers"} <= allowed
    missing = sorted(candidates - allowed - above - forbidden)
    assert missing == [], "forbid these to the screens in pyproject.toml, or allow them here"
    assert not forbidden & allowed
