"""Per-module mutation scores from the last `mutmut run`: caught / mutants run, and the survivors.

Usage (from the repository root): .venv/bin/python tools/mutation_scores.py
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

# A mutant that makes the tests fail or hang (stopped by mutmut's timeout) was caught.
CAUGHT = ("killed", "timeout")


def main() -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    out = subprocess.run(
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True
    )
    counts: dict[str, Counter[str]] = {}
    survivors = []
    for line in out.stdout.splitlines():
        name, _, state = line.strip().rpartition(": ")
        if "__mutmut_" not in name or state == "not checked":  # not in this run
            continue
        module = name.rsplit(".", 1)[0]  # the last part names the function: x_f or xǁClassǁmethod
        counts.setdefault(module, Counter())[state] += 1
        if state not in CAUGHT:
            survivors.append(f"{name}: {state}")
    for module, states in sorted(counts.items()):
        total = sum(states.values())
        caught = sum(states[state] for state in CAUGHT)
        print(f"{module:40} {caught:4}/{total:<4} {100 * caught / total:5.1f}%")
    for line in survivors:
        print("  ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
