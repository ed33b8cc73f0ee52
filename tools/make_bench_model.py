#!/usr/bin/env python3
"""Write a model with the exact t5-small or flan-t5-small shape and seeded random weights.

For benchmarks only (about 240 / 300 MB, not committed): the architecture and sizes are the real
ones, so timings and memory are those of the real model; the outputs are meaningless. The
tokenizer is the fixture's (a small vocabulary is enough to drive the model).

    python3 tools/make_bench_model.py t5-small bench-out/t5-small
"""
import pathlib
import shutil
import sys

import torch
from transformers import T5Config, T5ForConditionalGeneration

SHAPES = {
    "t5-small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8, feed_forward_proj="relu",
                     tie_word_embeddings=True),
    "flan-t5-small": dict(d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_decoder_layers=8, num_heads=6,
                          feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in SHAPES:
        print(__doc__, file=sys.stderr)
        return 2
    name, out = sys.argv[1], pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    cfg = T5Config(vocab_size=32128, relative_attention_num_buckets=32, relative_attention_max_distance=128,
                   dropout_rate=0.0, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0, **SHAPES[name])
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(cfg).eval()
    if not SHAPES[name]["tie_word_embeddings"]:
        with torch.no_grad():
            model.lm_head.weight = torch.nn.Parameter(torch.randn(32128, cfg.d_model) * 0.05)
        model.config.tie_word_embeddings = False
        model.config.scale_decoder_outputs = False
    model.save_pretrained(out, safe_serialization=True)
    (out / "generation_config.json").unlink(missing_ok=True)
    root = pathlib.Path(__file__).resolve().parent.parent
    shutil.copy(root / "tests" / "fixtures" / "tiny-t5" / "tokenizer.json", out / "tokenizer.json")
    print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f} M parameters in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
