"""The documentation stays in step with the code: the architecture page names every module, and the
README keeps the commands that .ci/run and readers take from it. (The site's links are checked by
`mkdocs build --strict` in tools/check.sh.)"""

from __future__ import annotations

import re

from tests.support.harness import ROOT

PACKAGE = ROOT / "src" / "testgen"


def test_the_architecture_page_names_every_module() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    modules = sorted(
        path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py") if path.name != "__init__.py"
    )
    assert modules
    missing = [module for module in modules if f"`{module}`" not in page]
    assert not missing, f"docs/architecture.md, 'Where things live', lacks: {', '.join(missing)}"


def test_the_architecture_page_names_no_module_that_is_gone() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    section = page.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    named = re.findall(r"^\| `([a-z_/]+\.py)` \|", section, flags=re.MULTILINE)
    assert named
    gone = [module for module in named if not (PACKAGE / module).is_file()]
    assert not gone, f"docs/architecture.md names modules that do not exist: {', '.join(gone)}"


def test_the_readme_keeps_the_run_and_test_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    for marker in ("run-command", "test-command"):
        block = re.search(rf"<!-- {marker} -->\n```\n(.+)\n```\n<!-- /{marker} -->", readme)
        assert block, f"README.md has no command between <!-- {marker} --> markers"
    assert '.venv/bin/pytest -m "not slow"' in readme
