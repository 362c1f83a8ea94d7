"""Conformance figure with parametrized test ids compared by meaning, not by spelling.

The conformance kit (../shared/conformance/run.sh) rewrites sentence-transformers' tests to import embedkit. A test
parametrized over module paths (tests/util/test_deprecated_import.py: 393 ids such as
``test_deprecated_import_paths[sentence_transformers.losses-...]``) then gets ids that spell ``embedkit.losses``, which
the kit's report counts as "not collected". This script maps ``embedkit`` back to ``sentence_transformers`` inside the
parameter part of embedkit's test ids, then runs the kit's own report on the result.

    DEV_VENV=~/venv6 CONF_SERIES=6 bash ../shared/conformance/run.sh        # both passes, kit's own figure
    python benchmarks/conformance_report.py ~/.cache/embedkit-conformance/v6  # same records, ids by meaning

It also prints, per test file, how many of the tests that sentence-transformers passes embedkit passes (a markdown
table, the source of docs/conformance.md).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

KIT = Path(__file__).resolve().parents[2] / "shared" / "conformance"


def normalize(test_id: str) -> str:
    head, bracket, params = test_id.partition("[")
    return head + bracket + re.sub(r"\bembedkit\b", "sentence_transformers", params)


def outcomes(path: Path) -> tuple[dict[str, str], set[str]]:
    """Per test id: failed if any phase failed, else skipped if any was skipped, else passed; and the ids in scope."""
    phases: dict[str, set[str]] = {}
    selected: set[str] = set()
    with path.open(encoding="utf8") as rows:
        for line in rows:
            row = json.loads(line)
            if row["kind"] == "selected":
                selected.add(row["id"])
            elif row["kind"] == "outcome":
                phases.setdefault(row["id"], set()).add(row["outcome"])
    verdicts = {test_id: next(v for v in ("failed", "skipped", "passed") if v in seen)
                for test_id, seen in phases.items()}
    return verdicts, selected


def by_file(work_dir: Path) -> str:
    st, selected = outcomes(work_dir / "rec_st.jsonl")
    ek, _ = outcomes(work_dir / "rec_ek_ids.jsonl")
    counts: dict[str, list[int]] = {}
    for test_id in selected:
        if st.get(test_id) != "passed":
            continue
        entry = counts.setdefault(test_id.split("::")[0], [0, 0])
        entry[0] += 1
        entry[1] += ek.get(test_id) == "passed"
    lines = ["| test file | ST passes | embedkit passes |", "|---|---|---|"]
    for name, (st_n, ek_n) in sorted(counts.items()):
        lines.append(f"| `{name}` | {st_n} | {ek_n} |")
    total_st, total_ek = sum(c[0] for c in counts.values()), sum(c[1] for c in counts.values())
    lines.append(f"| **all** | **{total_st}** | **{total_ek}** ({100 * total_ek / max(total_st, 1):.1f}%) |")
    return "\n".join(lines)


def main(work: str) -> int:
    work_dir = Path(work).expanduser()
    source, target = work_dir / "rec_ek.jsonl", work_dir / "rec_ek_ids.jsonl"
    with source.open(encoding="utf8") as rows, target.open("w", encoding="utf8") as out:
        for line in rows:
            row = json.loads(line)
            if "id" in row:
                row["id"] = normalize(row["id"])
            out.write(json.dumps(row) + "\n")
    report = [sys.executable, str(KIT / "st_suite_report.py"), str(work_dir / "rec_st.jsonl"), str(target),
              "--json", str(work_dir / "report_ids.json")]
    code = subprocess.call(report, env={"PYTHONPATH": str(KIT), "PATH": "/usr/bin:/bin"})
    print(by_file(work_dir))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/embedkit-conformance/v6"))
