"""The page's modules import downward only: no import cycle, and the shared helpers import no feature.

Read from the files' `import … from "./x.js"` statements, so it holds without Node or a browser
(tools/check_web.sh runs ESLint's import-x/no-cycle on the same graph when Node is there).
"""

from __future__ import annotations

import re
import shutil
from importlib import resources
from pathlib import Path

WEB = Path(str(resources.files("testgen") / "web"))
# `import {…} from "./x.js"`, `import "./x.js"`, `export {…} from "./x.js"`, over several lines too.
IMPORT = re.compile(r"""^\s*(?:import|export)\b[^;]*?["']\./([\w.-]+\.js)["']""", re.MULTILINE)
# At the bottom: what every module may use. They import nothing else of the page.
SHARED_HELPERS = {
    "announce.js",
    "api.js",
    "auth.js",
    "confirm.js",
    "constants.js",
    "dom.js",
    "events.js",
    "i18n.js",
    "input-limits.js",
    "permissions.js",
    "route.js",
    "state.js",
    "toasts.js",
    "types.js",
}


def import_graph(web: Path) -> dict[str, set[str]]:
    """Each module of `web` and the modules it imports."""
    return {path.name: set(IMPORT.findall(path.read_text("utf-8"))) for path in sorted(web.glob("*.js"))}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle found by a depth-first walk, each as the modules along it (first = last)."""
    found: list[list[str]] = []
    done: set[str] = set()

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            found.append([*path[path.index(module) :], module])
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            walk(imported, [*path, module])
        done.add(module)

    for module in graph:
        walk(module, [])
    return found


def test_the_page_has_no_import_cycle() -> None:
    graph = import_graph(WEB)
    assert {"app.js", "jobs.js", "stream.js", "stories.js", "review.js"} <= set(graph)
    assert sum(len(imports) for imports in graph.values()) > 50  # the scan reads the imports
    assert cycles(graph) == []


def test_every_import_is_a_module_of_the_page() -> None:
    graph = import_graph(WEB)
    missing = {
        f"{module} -> {name}" for module, imports in graph.items() for name in imports if name not in graph
    }
    assert missing == set()


def test_shared_helpers_import_only_shared_helpers() -> None:
    graph = import_graph(WEB)
    assert set(graph) >= SHARED_HELPERS
    upward = {f"{m} -> {name}" for m in SHARED_HELPERS for name in graph[m] if name not in SHARED_HELPERS}
    assert upward == set()


def test_nothing_imports_the_entry_module() -> None:
    graph = import_graph(WEB)
    assert [module for module, imports in graph.items() if "app.js" in imports] == []


def test_the_check_finds_a_cycle(tmp_path: Path) -> None:
    """A back edge planted in a copy of the page (a helper importing a feature) is found."""
    for path in WEB.glob("*.js"):
        shutil.copy(path, tmp_path / path.name)
    dom = tmp_path / "dom.js"
    dom.write_text('import { renderStatus } from "./stories.js";\n' + dom.read_text("utf-8"))
    found = cycles(import_graph(tmp_path))
    assert found and all(cycle[0] == cycle[-1] for cycle in found)
    assert any({"dom.js", "stories.js"} <= set(cycle) for cycle in found)
