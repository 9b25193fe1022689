"""The test suite's own rules, checked by parsing every file under tests/ (no test module is imported).

* torch is imported only by test modules named ``*_torch.py`` and by helper modules named ``torch_*.py``
  (directly or through another ``torch_*`` helper), so ``pytest -m "not torch"`` runs without PyTorch;
* every ``*_torch.py`` module imports torch and is marked ``pytestmark = pytest.mark.torch`` (a NumPy-only test
  hidden in it would be lost by the ``not torch`` run);
* no test file is longer than ``MAX_LINES``.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
MAX_LINES = 600
FILES = sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(tree: ast.AST) -> set[str]:
    """Every module an import statement names, anywhere in the file (``a.b`` for ``from a.b import c``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def needs_torch(module: str) -> bool:
    """``torch`` itself or one of the suite's torch helpers (a ``torch_*`` module, e.g. ``cases.torch_lm``)."""
    parts = module.split(".")
    return parts[0] == "torch" or any(p.startswith("torch_") for p in parts)


def is_torch_marked(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
            marks = node.value.elts if isinstance(node.value, (ast.List, ast.Tuple)) else [node.value]
            return any(ast.unparse(m) == "pytest.mark.torch" for m in marks)
    return False


def rel(path: Path) -> str:
    return str(path.relative_to(TESTS.parent))


def test_the_suite_has_files_to_check():
    names = {p.name for p in FILES}
    assert {"conftest.py", "helpers.py", "torch_helpers.py"} <= names
    assert sum(p.name.endswith("_torch.py") for p in FILES) >= 10


def torch_rule_violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    torch_imports = sorted(m for m in imported_modules(tree) if needs_torch(m))
    if path.name.startswith("test_") and path.name.endswith("_torch.py"):
        return [f"{rel(path)} imports no torch: name it without the _torch suffix"] * (not torch_imports) + [
            f"{rel(path)} lacks the module-level  pytestmark = pytest.mark.torch"
        ] * (not is_torch_marked(tree))
    if torch_imports and path.name.startswith("test_"):
        return [f"{rel(path)} imports {torch_imports}: move those tests into a *_torch.py module marked torch"]
    if torch_imports and not path.name.startswith("torch_"):
        return [f"helper {rel(path)} imports {torch_imports}: torch helpers are named torch_*.py"]
    return []


def test_torch_only_where_the_name_says_so():
    violations = [v for path in FILES for v in torch_rule_violations(path)]
    assert not violations, "\n".join(violations)


def test_no_test_file_is_too_long():
    lengths = {rel(p): len(p.read_text(encoding="utf-8").splitlines()) for p in FILES if p.name.startswith("test_")}
    too_long = {p: n for p, n in lengths.items() if n > MAX_LINES}
    assert not too_long, f"split these by subject (> {MAX_LINES} lines): {too_long}"


def test_conftest_reads_the_marker_expression():
    """Which ``-m`` expressions let conftest skip the *_torch.py modules when torch is missing."""
    from conftest import deselects_torch

    for expr in ("not torch", "not torch and not slow", "not (torch or browser)", "slow and not torch"):
        assert deselects_torch(expr), expr
    for expr in ("", "torch", "slow", "not slow", "not torch or slow", "torch or not torch"):
        assert not deselects_torch(expr), expr


def test_the_checks_catch_violations():
    """The rules above fail on the cases they exist for."""
    numpy_file = ast.parse("import numpy as np\nfrom torch_helpers import t64\n")
    assert sorted(m for m in imported_modules(numpy_file) if needs_torch(m)) == ["torch_helpers", "torch_helpers.t64"]
    nested = ast.parse("def f():\n    import torch.nn.functional as TF\n")
    assert any(needs_torch(m) for m in imported_modules(nested))
    assert any(needs_torch(m) for m in imported_modules(ast.parse("from cases.torch_nn_parity import torch_rnn\n")))
    assert not any(needs_torch(m) for m in imported_modules(ast.parse("from cases.lengths import ours_rnn\n")))
    assert is_torch_marked(ast.parse("import pytest\npytestmark = pytest.mark.torch\n"))
    assert is_torch_marked(ast.parse("pytestmark = [pytest.mark.slow, pytest.mark.torch]\n"))
    assert not is_torch_marked(ast.parse("pytestmark = pytest.mark.slow\n"))
    assert not is_torch_marked(ast.parse("def f():\n    pytestmark = pytest.mark.torch\n"))


def test_ci_runs_the_readme_test_command_verbatim_and_requires_the_browser():
    root = TESTS.parent
    ci = (root / ".ci" / "run").read_text(encoding="utf-8")
    marker = "# --- the README's test command, verbatim ---\n"
    mpi_marker = "# --- then the MPI tests: 2 processes under mpiexec (the mpi extra: mpi4py and MPICH's wheels) ---\n"
    assert marker in ci and mpi_marker in ci, f".ci/run lost its line {marker!r} or {mpi_marker!r}"
    before, after = ci.split(marker)
    command, mpi = (part.strip() for part in after.split(mpi_marker))
    assert mpi == 'python -m pip install ".[mpi]" && BPTT_REQUIRE_MPI=1 python -m pytest -q -m mpi', (
        ".ci/run must run the MPI tests after the README's command, a missing MPI being a failure")
    assert f"```bash\n{command}\n```" in (root / "README.md").read_text(encoding="utf-8"), (
        f"the README no longer shows .ci/run's test command {command!r}"
    )
    assert "export BPTT_REQUIRE_BROWSER=1\n" in before, ".ci/run must make a missing browser a failure"
