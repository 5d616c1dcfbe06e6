"""Step definitions as each framework spells them, and the files of a project that runs them.

pytest-bdd and behave match steps with `parse` patterns (`{name}`, `{name:d}`; pytest-bdd whatever
the case), playwright-bdd with Cucumber expressions (`{string}`, `{int}`, `{float}`, `{}`) whatever
the keyword. Every definition's body raises the framework's "not implemented" with the step's
text, and a comment names the step and the scenarios that use it.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from testgen.automation.steps import (
    Slot,
    SlotKind,
    StepCatalog,
    StepDefinition,
    StepKind,
    identifier,
    unify,
)
from testgen.domain.automation import MAX_SCENARIOS_NAMED, PROPOSAL_MARK, AutomationFramework

FEATURES_DIR = "features"
# Where each framework's step definitions go in its project, and which files hold definitions.
STEPS_FILE = {
    AutomationFramework.pytest_bdd: "conftest.py",
    AutomationFramework.behave: "features/steps/steps.py",
    AutomationFramework.playwright_bdd: "steps/steps.ts",
}
STEP_SUFFIX = {
    AutomationFramework.pytest_bdd: ".py",
    AutomationFramework.behave: ".py",
    AutomationFramework.playwright_bdd: ".ts",
}
# Versions the playwright-bdd project asks for (package.json).
PLAYWRIGHT_BDD_PACKAGES = {
    "@playwright/test": "^1.56.0",
    "@types/node": "^20.0.0",
    "playwright-bdd": "^9.2.0",
    "typescript": "^5.6.0",
}


def unify_for(features: Sequence[str], framework: AutomationFramework) -> StepCatalog:
    """The definitions `framework` needs: Cucumber expressions match whatever the keyword, and their
    `{string}` either quote and the empty string; pytest-bdd's `parsers.parse` matches whatever the
    case (behave's parse matcher minds it)."""
    cucumber = framework is AutomationFramework.playwright_bdd
    return unify(
        features,
        keyword_scoped=not cucumber,
        case_sensitive=framework is not AutomationFramework.pytest_bdd,
        any_quote=cucumber,
    )


def _visible(text: str) -> str:
    """Text for a one-line comment: line breaks and other invisible controls shown as escapes."""
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs") else c for c in text
    )


def _parse_pattern(definition: StepDefinition) -> str:
    out = []
    for part in definition.parts:
        if isinstance(part, str):
            out.append(part.replace("{", "{{").replace("}", "}}"))
        elif part.kind is SlotKind.string:
            out.append(f"{part.quote}{{{part.name}}}{part.quote}")
        elif part.kind is SlotKind.number:
            out.append(f"{{{part.name}:{'g' if part.decimal else 'd'}}}")
        else:
            out.append(f"{{{part.name}}}")
    return "".join(out)


_CUCUMBER_SPECIAL = str.maketrans({c: "\\" + c for c in "\\(){}/"})


def _cucumber_expression(definition: StepDefinition) -> str:
    out = []
    for part in definition.parts:
        if isinstance(part, str):
            out.append(part.translate(_CUCUMBER_SPECIAL))
        elif part.kind is SlotKind.string:
            out.append("{string}")
        elif part.kind is SlotKind.number:
            out.append("{float}" if part.decimal else "{int}")
        else:
            out.append("{}")
    return "".join(out)


def pattern(definition: StepDefinition, framework: AutomationFramework) -> str:
    if framework is AutomationFramework.playwright_bdd:
        return _cucumber_expression(definition)
    return _parse_pattern(definition)


def _keyword(kind: StepKind) -> str:
    return kind.value.capitalize()


def _comment(definition: StepDefinition, mark: str) -> list[str]:
    named = definition.scenarios[:MAX_SCENARIOS_NAMED]
    more = len(definition.scenarios) - len(named)
    used = "; ".join(named) + (f"; and {more} more" if more else "")
    steps = "step" if definition.uses == 1 else "steps"
    return [
        f"{mark} {_keyword(definition.kind)} {_visible(definition.text)}",
        f"{mark} {definition.uses} {steps} in: {_visible(used)}",
    ]


def _python_type(slot: Slot) -> str:
    if slot.kind is SlotKind.number:
        return "float" if slot.decimal else "int"
    return "str"


def _ts_type(slot: Slot) -> str:
    return "number" if slot.kind is SlotKind.number else "string"


class FunctionNames:
    """Function names from the steps' texts, unique in their module (a taken one gets `_2`, ...)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def __call__(self, definition: StepDefinition) -> str:
        words = " ".join(p if isinstance(p, str) else p.name for p in definition.parts)
        base = f"{definition.kind.value}_{identifier(words)}"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name


def _python_definition(
    definition: StepDefinition, framework: AutomationFramework, names: FunctionNames
) -> list[str]:
    text = f"{_keyword(definition.kind)} {definition.text}"
    args = [f"{slot.name}: {_python_type(slot)}" for slot in definition.slots]
    if framework is AutomationFramework.pytest_bdd:
        decorator = f"@{definition.kind.value}(parsers.parse({pattern(definition, framework)!r}))"
        pending = f"raise NotImplementedError({('Pending step: ' + text)!r})"
    else:
        decorator = f"@{definition.kind.value}({pattern(definition, framework)!r})"
        args.insert(0, "context: Context")
        pending = f"raise StepNotImplementedError({text!r})"
    return [
        *_comment(definition, "#"),
        decorator,
        f"def {names(definition)}({', '.join(args)}) -> None:",
        f"    {pending}",
    ]


@dataclass(frozen=True)
class Proposal:
    """A body the model proposed for a playwright-bdd step (automation/fill.py checked it)."""

    body: str  # TypeScript statements
    model: str  # "provider/model", named in the marker comment above it


def _ts_definition(definition: StepDefinition, proposal: Proposal | None = None) -> list[str]:
    text = f"{_keyword(definition.kind)} {definition.text}"
    args = ["{ page }", *(f"{slot.name}: {_ts_type(slot)}" for slot in definition.slots)]
    expression = json.dumps(pattern(definition, AutomationFramework.playwright_bdd), ensure_ascii=False)
    if proposal is None:
        body = [f"  test.fixme(true, {json.dumps('Pending step: ' + text, ensure_ascii=False)});"]
    else:
        mark = PROPOSAL_MARK.format(model=_visible(proposal.model))
        body = [f"  // {mark}", *(f"  {line}".rstrip() for line in proposal.body.splitlines())]
    return [
        *_comment(definition, "//"),
        f"{_keyword(definition.kind)}({expression}, async ({', '.join(args)}) => {{",
        *body,
        "});",
    ]


def _headers(framework: AutomationFramework, proposed: bool = False) -> list[str]:
    if framework is AutomationFramework.pytest_bdd:
        return [
            '"""Step definitions of the features in features/ (their scenarios: test_features.py).',
            "",
            "One definition per distinct step; each raises NotImplementedError until its body is written.",
            '"""',
            "",
            "import re",
            "from pathlib import Path",
            "",
            "import pytest",
            "from pytest_bdd import given, parsers, then, when",
            "",
            "",
            "def pytest_configure(config: pytest.Config) -> None:",
            '    """The features\' tags (@story-..., @TC-...) are marks pytest knows (--strict-markers)."""',
            '    for feature in Path(__file__).parent.glob("features/**/*.feature"):',
            '        text = feature.read_text(encoding="utf-8")',
            '        for tag in set(re.findall(r"(?<!\\S)@([^\\s@:()]+)", text)):',
            '            config.addinivalue_line("markers", f"{tag}: a tag of the features")',
        ]
    if framework is AutomationFramework.behave:
        return [
            '"""Step definitions of the features in features/.',
            "",
            "One definition per distinct step; each raises StepNotImplementedError until it is written.",
            '"""',
            "",
            "from behave import given, then, when",
            "from behave.api.pending_step import StepNotImplementedError",
            "from behave.runner import Context",
        ]
    if proposed:
        return [
            "// Step definitions of the features in features/.",
            "// Bodies marked PROPOSAL were written by a model from the step text alone: review each.",
            "// The others mark their test as fixme until their body is written.",
            'import { createBdd } from "playwright-bdd";',
            'import { expect, test } from "@playwright/test";',
            "",
            "const { Given, When, Then } = createBdd();",
        ]
    return [
        "// Step definitions of the features in features/.",
        "// One definition per distinct step; each marks its test as fixme until its body is written.",
        'import { createBdd } from "playwright-bdd";',
        'import { test } from "@playwright/test";',
        "",
        "const { Given, When, Then } = createBdd();",
    ]


def _quotes(definition: StepDefinition) -> int:
    """The quote characters a step needs for its pattern to match it (a string parameter: two)."""
    return sum(
        part.count('"') + part.count("'") if isinstance(part, str) else 2 * (part.kind is SlotKind.string)
        for part in definition.parts
    )


def _ordered(definitions: Sequence[StepDefinition], framework: AutomationFramework) -> list[StepDefinition]:
    """The order of the definitions in a steps file. behave takes the first definition that matches a
    step, and refuses one whose pattern an earlier one matches; a parse `"{text}"` matches across
    quotes (`Name" or "Email`) and a free placeholder anything, but no pattern matches a step with
    fewer quotes than it needs. So behave gets the steps with more quotes first, and those with a free
    placeholder last among equals; the others, those with a free placeholder last."""

    def free(d: StepDefinition) -> bool:
        return any(s.kind is SlotKind.any for s in d.slots)

    if framework is AutomationFramework.behave:
        return sorted(definitions, key=lambda d: (-_quotes(d), free(d)))
    return sorted(definitions, key=free)


def definitions_block(
    definitions: Sequence[StepDefinition],
    framework: AutomationFramework,
    taken: Iterable[str] = (),
    proposals: Mapping[str, Proposal] | None = None,
) -> str:
    """The definitions alone, to go after a steps file's imports (or at the end of an existing one);
    `taken`: function names the module has already; `proposals`: playwright-bdd bodies by Cucumber
    expression (the others stay pending)."""
    names = FunctionNames(taken)
    blocks: list[list[str]] = []
    for definition in _ordered(definitions, framework):
        if framework is AutomationFramework.playwright_bdd:
            blocks.append(_ts_definition(definition, (proposals or {}).get(pattern(definition, framework))))
        else:
            blocks.append(_python_definition(definition, framework, names))
    separator = "\n\n" if framework is AutomationFramework.playwright_bdd else "\n\n\n"
    return separator.join("\n".join(block) for block in blocks) + "\n" if blocks else ""


def steps_file(
    definitions: Sequence[StepDefinition],
    framework: AutomationFramework,
    proposals: Mapping[str, Proposal] | None = None,
) -> str:
    head = "\n".join(_headers(framework, bool(proposals))) + "\n"
    body = definitions_block(definitions, framework, proposals=proposals)
    if not body:
        return head
    gap = "\n" if framework is AutomationFramework.playwright_bdd else "\n\n"
    return head + gap + body


def project_files(framework: AutomationFramework) -> dict[str, str]:
    """The files besides the features and the steps that make the folder a project its runner runs."""
    if framework is AutomationFramework.pytest_bdd:
        return {
            "test_features.py": '"""Every scenario of features/ as a test (the steps: conftest.py)."""\n\n'
            "from pytest_bdd import scenarios\n\n"
            f'scenarios("{FEATURES_DIR}")\n'
        }
    if framework is AutomationFramework.behave:
        return {}
    package = {
        "name": "bdd-tests",
        "private": True,
        "scripts": {"bddgen": "bddgen", "test": "bddgen && playwright test"},
        "devDependencies": PLAYWRIGHT_BDD_PACKAGES,
    }
    tsconfig = {
        "compilerOptions": {
            "target": "ES2022",
            "module": "commonjs",
            "moduleResolution": "node",
            "strict": True,
            "esModuleInterop": True,
            "skipLibCheck": True,
            "noEmit": True,
        },
        "include": ["steps/**/*.ts", "playwright.config.ts"],
    }
    config = "\n".join(
        [
            'import { defineConfig } from "@playwright/test";',
            'import { defineBddConfig } from "playwright-bdd";',
            "",
            "const testDir = defineBddConfig({",
            f'  features: "{FEATURES_DIR}/**/*.feature",',
            '  steps: "steps/**/*.ts",',
            "});",
            "",
            "export default defineConfig({",
            "  testDir,",
            "  use: { baseURL: process.env.BASE_URL },",
            "});",
            "",
        ]
    )
    return {
        "package.json": json.dumps(package, indent=2) + "\n",
        "tsconfig.json": json.dumps(tsconfig, indent=2) + "\n",
        "playwright.config.ts": config,
    }


@dataclass(frozen=True)
class Skeleton:
    files: dict[str, str]  # path in the project -> text
    catalog: StepCatalog


def skeleton(
    features: Mapping[str, str],
    framework: AutomationFramework,
    proposals: Mapping[str, Proposal] | None = None,
) -> Skeleton:
    """A project of `framework` for `features` (file name -> feature text): the features, one step
    definition per distinct step, and what the runner needs besides; `proposals` (playwright-bdd):
    model-proposed bodies by Cucumber expression, each marked for review."""
    catalog = unify_for(list(features.values()), framework)
    files = {f"{FEATURES_DIR}/{name}": text for name, text in features.items()}
    files[STEPS_FILE[framework]] = steps_file(catalog.definitions, framework, proposals)
    files.update(project_files(framework))
    return Skeleton(files, catalog)
