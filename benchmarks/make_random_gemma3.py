"""Build a random-weight Gemma 3 text SentenceTransformer in EmbeddingGemma's layout, for speed comparisons only.

    /root/venv6/bin/python benchmarks/make_random_gemma3.py OUT [--size small|embeddinggemma]

Needs transformers and sentence-transformers (a benchmark environment, never a dependency). ``small`` is
all-MiniLM-L6-v2's size (6 layers, hidden 384, 6 query heads on 2 key/value heads of 64, feed-forward 1536, sliding
window 128 on five layers of six, bidirectional); ``embeddinggemma`` is embeddinggemma-300m's shape without its
262k-row vocabulary. Both use the byte-level BPE tokenizer of ``tests/fixtures/gemma3_st`` (no Gemma tokenizer is
reachable offline), with Transformer + mean Pooling + Dense(D, 4D) + Dense(4D, D) (no biases) + Normalize.
Then: ``python benchmarks/inference_speed.py --model OUT --quick --setups st embedkit [--busy-neighbour 1]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

SIZES = {
    "small": dict(hidden_size=384, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=6,
                  num_key_value_heads=2, head_dim=64, max_position_embeddings=512, sliding_window=128,
                  query_pre_attn_scalar=64),
    "embeddinggemma": dict(hidden_size=768, intermediate_size=1152, num_hidden_layers=24, num_attention_heads=3,
                           num_key_value_heads=1, head_dim=256, max_position_embeddings=2048, sliding_window=512,
                           query_pre_attn_scalar=256),
}


def main() -> None:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import Gemma3TextConfig, Gemma3TextModel, PreTrainedTokenizerFast

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    args = parser.parse_args()
    size = SIZES[args.size]
    fixture = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gemma3_st"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(fixture / name, Path(tmp) / name)
        tokenizer = PreTrainedTokenizerFast.from_pretrained(tmp)
        tokenizer.model_max_length = size["max_position_embeddings"]
        tokenizer.save_pretrained(tmp)
        config = Gemma3TextConfig(vocab_size=len(tokenizer), use_bidirectional_attention=True, pad_token_id=0,
                                  eos_token_id=1, bos_token_id=2, **size)
        torch.manual_seed(0)
        Gemma3TextModel(config).save_pretrained(tmp)
        D = size["hidden_size"]
        dense = [Dense(D, 4 * D, bias=False, activation_function=torch.nn.Identity()),
                 Dense(4 * D, D, bias=False, activation_function=torch.nn.Identity())]
        model = SentenceTransformer(modules=[Transformer(tmp), Pooling(D, "mean"), *dense, Normalize()], device="cpu")
        model.save(args.out)
    print(f"saved {args.out}: {sum(p.numel() for p in model.parameters()):,} parameters")


if __name__ == "__main__":
    main()
