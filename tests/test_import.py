"""``import embedkit`` (and an encode) must not pull in heavy or forbidden libraries."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = ("transformers", "datasets", "accelerate", "scipy", "sklearn", "pandas", "sentence_transformers")
# torch's compiler stack (about a second to import); only torch.compile or a CUDA varlen call may pull it in
HEAVY_TORCH = ("torch._dynamo", "torch._inductor", "torch.nn.attention.varlen")

SCRIPT = """
import json, sys
import embedkit
after_import = sorted(sys.modules)
from embedkit import SentenceTransformer
model = SentenceTransformer(sys.argv[1], device="cpu")
model.encode(["hello world"])
print(json.dumps({"import": after_import, "encode": sorted(sys.modules)}))
"""


def test_no_forbidden_modules_after_import_and_encode():
    from tests.conftest import FIXTURES

    out = subprocess.run([sys.executable, "-c", SCRIPT, str(FIXTURES / "tiny_bert_v6")], capture_output=True,
                         text=True, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    for stage, modules in loaded.items():
        bad = sorted({m.split(".")[0] for m in modules} & set(FORBIDDEN))
        assert not bad, f"after {stage}: {bad}"
        assert not set(HEAVY_TORCH) & set(modules), f"after {stage}: {sorted(set(HEAVY_TORCH) & set(modules))}"
    assert "embedkit" in loaded["import"] and "torch" in loaded["encode"]
