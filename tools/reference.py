#!/usr/bin/env python3
"""Reference outputs from PyTorch + transformers for the committed fixture models.

For each model folder (config.json, model.safetensors, tokenizer.json) this writes
`reference.json` next to it with, for fixed inputs:

- `encoder`: encoder last hidden state (a short input, and one longer than 128 tokens, where
  relative-position buckets must be clamped);
- `teacher_forced`: decoder logits at every position for a fixed decoder input (start token +
  given ids), in one pass without a cache;
- `generate`: token ids from `model.generate()` for several sampling-free settings (greedy,
  beam search with length_penalty / early_stopping / no_repeat_ngram_size / min and max lengths /
  repetition_penalty, and the model's own summarization defaults).

Nothing is downloaded: the weights are the committed fixtures, loaded from disk.

    pip install torch transformers safetensors tokenizers
    python3 tools/reference.py                      # both fixtures
    python3 tools/reference.py path/to/model-dir    # any model folder (e.g. a t5-small-shaped one)
"""
import json
import pathlib
import sys

import torch
import transformers
from tokenizers import Tokenizer
from transformers import T5ForConditionalGeneration

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = [ROOT / "tests" / "fixtures" / "tiny-t5", ROOT / "tests" / "fixtures" / "tiny-flan-t5"]
ARTICLE = (ROOT / "tests" / "fixtures" / "article.txt").read_text(encoding="utf-8")

# Settings passed to generate(); names as in transformers. Every one is sampling-free.
SETTINGS = {
    "greedy_40": dict(num_beams=1, max_new_tokens=40),
    "greedy_min_20_max_32": dict(num_beams=1, min_new_tokens=20, max_new_tokens=32),
    "greedy_repetition_1.3_no_repeat_2": dict(num_beams=1, max_new_tokens=36, repetition_penalty=1.3, no_repeat_ngram_size=2),
    "beam_2_max_24": dict(num_beams=2, max_new_tokens=24, early_stopping=False),
    "beam_3_lp_0.6_early": dict(num_beams=3, max_new_tokens=30, length_penalty=0.6, early_stopping=True),
    "beam_4_lp_2_no_repeat_3": dict(num_beams=4, max_new_tokens=40, length_penalty=2.0, no_repeat_ngram_size=3, early_stopping=True),
    "beam_4_min_length_12_max_length_20": dict(num_beams=4, min_length=12, max_length=20, early_stopping=False),
    "beam_5_repetition_1.2": dict(num_beams=5, max_new_tokens=32, repetition_penalty=1.2, early_stopping=True),
    "beam_3_min_new_8_max_new_28": dict(num_beams=3, min_new_tokens=8, max_new_tokens=28, early_stopping=False),
    "beam_4_lp_0.5_never_max_60": dict(num_beams=4, max_new_tokens=60, length_penalty=0.5, early_stopping="never"),
    "beam_6_lp_-0.5_max_80": dict(num_beams=6, max_new_tokens=80, length_penalty=-0.5, early_stopping=False),
    # The t5 summarization defaults (task_specific_params.summarization of t5-small).
    "t5_summarization_defaults": dict(num_beams=4, length_penalty=2.0, no_repeat_ngram_size=3, min_length=30, max_length=200, early_stopping=True),
}


def rounded(t: torch.Tensor) -> list:
    """Nested lists of float32 values as Python floats (exact: float32 → float64 is exact)."""
    return t.detach().to(torch.float32).tolist()


def reference(model_dir: pathlib.Path) -> dict:
    torch.manual_seed(0)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    model = T5ForConditionalGeneration.from_pretrained(str(model_dir), torch_dtype=torch.float32)
    model.eval()
    cfg = model.config
    prefix = ((getattr(cfg, "task_specific_params", None) or {}).get("summarization") or {}).get("prefix", "summarize: ")
    paragraphs = [p.strip() for p in ARTICLE.split("\n\n") if p.strip()]
    short_ids = tok.encode(prefix + paragraphs[0]).ids[:48]
    if short_ids[-1] != cfg.eos_token_id:
        short_ids[-1] = cfg.eos_token_id
    long_ids = tok.encode(prefix + " ".join(paragraphs)).ids[:200]
    long_ids[-1] = cfg.eos_token_id
    assert len(long_ids) > 128, "the long input must exceed 128 tokens to exercise bucket clamping"

    out = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "inputs": {"short": short_ids, "long": long_ids},
        "encoder": {},
        "teacher_forced": {},
        "generate": {},
    }
    with torch.no_grad():
        for name, ids in out["inputs"].items():
            x = torch.tensor([ids])
            out["encoder"][name] = rounded(model.get_encoder()(input_ids=x).last_hidden_state[0])

        # Teacher forcing: the decoder sees start + the greedy output of the short input, so the
        # positions are those real generation visits.
        x = torch.tensor([short_ids])
        greedy = model.generate(x, num_beams=1, do_sample=False, max_new_tokens=32, min_new_tokens=32)[0].tolist()
        decoder_ids = greedy[:32]
        logits = model(input_ids=x, decoder_input_ids=torch.tensor([decoder_ids])).logits[0]
        out["teacher_forced"] = {"input": "short", "decoder_input_ids": decoder_ids, "logits": rounded(logits)}

        for name, settings in SETTINGS.items():
            out["generate"][name] = {}
            for input_name in ("short", "long"):
                ids = torch.tensor([out["inputs"][input_name]])
                gen = model.generate(ids, do_sample=False, **settings)[0].tolist()
                out["generate"][name][input_name] = gen
        out["settings"] = SETTINGS
    return out


def main() -> None:
    dirs = [pathlib.Path(a) for a in sys.argv[1:]] or FIXTURES
    for d in dirs:
        ref = reference(d)
        path = d / "reference.json"
        path.write_text(json.dumps(ref, separators=(",", ":")) + "\n", encoding="utf-8")
        gens = ref["generate"]
        print(f"{path}: {path.stat().st_size} bytes; greedy_40(short) = {gens['greedy_40']['short'][:12]}…")


if __name__ == "__main__":
    main()
