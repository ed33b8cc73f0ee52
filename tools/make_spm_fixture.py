#!/usr/bin/env python3
"""Make a tokenizer.json the way the hub's t5 tokenizers were made, for tests/fixtures/spm-tokenizer/.

The other fixtures' tokenizers are built directly with `tokenizers`. The hub's t5-small
tokenizer.json instead comes from converting a SentencePiece model with transformers: a
`Precompiled` normalizer carrying SentencePiece's character map, and Metaspace written by an
older `tokenizers` in its legacy spelling (`"add_prefix_space": true`, no `prepend_scheme`).
This script does the same with a model trained here:

1. trains a SentencePiece Unigram model on tools/fixtures/corpus.txt (`<pad>`=0, `</s>`=1,
   `<unk>`=2, no `<s>`, as t5's spiece.model), with as many pieces as the corpus yields up to
   what tests/fixtures/tiny-t5 (whose weights it is tested with) has room for beside 8 extra ids;
2. converts it with transformers' `T5TokenizerFast` (the slow-to-fast converter the hub files
   came from) and saves tokenizer.json, then rewrites each Metaspace to the legacy spelling;
3. writes `reference.json`: for a set of texts, the ids of SentencePiece itself (transformers'
   slow `T5Tokenizer`) for "summarize: " + text, and the decoded text, which the Rust tests
   compare with what the pipeline makes of them.

Needs torch-free Python with transformers, tokenizers, sentencepiece and protobuf:

    pip install transformers tokenizers sentencepiece protobuf
    python3 tools/make_spm_fixture.py
"""
import json
import pathlib
import sys
import tempfile

import sentencepiece as spm
from tokenizers import Tokenizer
from transformers import T5Tokenizer, T5TokenizerFast

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tools" / "fixtures" / "corpus.txt"
OUT = ROOT / "tests" / "fixtures" / "spm-tokenizer"
EXTRA_IDS = 8

# Texts whose tokenization is compared: plain prose, digits and punctuation, accents, and
# characters SentencePiece's NFKC map rewrites (full-width letters, a ligature, an ellipsis).
TEXTS = [
    "The council met on Monday to discuss the new bridge.",
    "Prices rose 3.5% in 2024, and again (by 12%) in the spring!",
    "Café owners in Zürich said the crème brûlée was naïve.",
    "ＦＵＬＬ width letters, the ﬁ ligature… and a ™ sign.",
    "Municipalities reorganized transportation infrastructure collaboratively.",
    "one  two   three",
]


def legacy_metaspace(node):
    """Rewrites every Metaspace in a tokenizer.json tree to the spelling older tokenizers wrote."""
    if isinstance(node, dict):
        if node.get("type") == "Metaspace":
            return {"type": "Metaspace", "replacement": node["replacement"], "add_prefix_space": True}
        return {k: legacy_metaspace(v) for k, v in node.items()}
    if isinstance(node, list):
        return [legacy_metaspace(v) for v in node]
    return node


def main() -> int:
    target = json.loads((ROOT / "tests/fixtures/tiny-t5/config.json").read_text())["vocab_size"]
    OUT.mkdir(parents=True, exist_ok=True)
    work = tempfile.TemporaryDirectory()
    prefix = pathlib.Path(work.name) / "spiece"
    spm.SentencePieceTrainer.train(
        input=str(CORPUS),
        model_prefix=str(prefix),
        model_type="unigram",
        # The corpus is small: as many pieces as it yields, up to what the model has room for.
        vocab_size=target - EXTRA_IDS,
        hard_vocab_limit=False,
        pad_id=0,
        eos_id=1,
        unk_id=2,
        bos_id=-1,
        pad_piece="<pad>",
        eos_piece="</s>",
        unk_piece="<unk>",
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    slow = T5Tokenizer(vocab_file=str(prefix) + ".model", extra_ids=EXTRA_IDS, legacy=True)
    fast = T5TokenizerFast(vocab_file=str(prefix) + ".model", extra_ids=EXTRA_IDS, legacy=True)
    with tempfile.TemporaryDirectory() as d:
        fast.save_pretrained(d)
        data = json.loads((pathlib.Path(d) / "tokenizer.json").read_text(encoding="utf-8"))
    normalizers = data["normalizer"].get("normalizers", [data["normalizer"]])
    assert any(n["type"] == "Precompiled" for n in normalizers), data["normalizer"]
    data = legacy_metaspace(data)
    path = OUT / "tokenizer.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    # The file as saved still loads in tokenizers and agrees with SentencePiece.
    saved = Tokenizer.from_file(str(path))
    vocab = saved.get_vocab_size(with_added_tokens=True)
    assert vocab <= target, (vocab, target)
    reference = {"vocab_size": vocab, "cases": []}
    for text in TEXTS:
        ids = slow("summarize: " + text).input_ids
        assert saved.encode("summarize: " + text).ids == ids, text
        reference["cases"].append({
            "text": text,
            "ids": ids,
            "decoded": slow.decode(ids, skip_special_tokens=True),
        })
    (OUT / "reference.json").write_text(json.dumps(reference, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{path}: vocab {vocab} (model: {target}), {len(TEXTS)} reference cases")
    return 0


if __name__ == "__main__":
    sys.exit(main())
