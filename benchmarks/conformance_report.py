"""Conformance figure with parametrized test ids compared by meaning, not by spelling.

The conformance kit (../shared/conformance/run.sh) rewrites sentence-transformers' tests to import embedkit. A test
parametrized over module paths (tests/util/test_deprecated_import.py: 393 ids such as
``test_deprecated_import_paths[sentence_transformers.losses-...]``) then gets ids that spell ``embedkit.losses``, which
the kit's report counts as "not collected". This script maps ``embedkit`` back to ``sentence_transformers`` inside the
parameter part of embedkit's test ids, then runs the kit's own report on the result.

    DEV_VENV=~/venv6 CONF_SERIES=6 bash ../shared/conformance/run.sh        # both passes, kit's own figure
    python benchmarks/conformance_report.py ~/.cache/embedkit-conformance/v6  # same records, ids by meaning
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
    return subprocess.call(report, env={"PYTHONPATH": str(KIT), "PATH": "/usr/bin:/bin"})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "~/.cache/embedkit-conformance/v6"))
