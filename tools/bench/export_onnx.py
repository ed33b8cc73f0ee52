#!/usr/bin/env python3
"""Export a generated T5 to ONNX for transformers.js, the peer of `./build.sh bench --peer`.

    export_onnx.py <model dir> <out dir>

<model dir> holds config.json, model.safetensors and tokenizer.json (the benchmark model
`./build.sh bench --peer` generates). <out dir> receives the layout transformers.js reads from a
local model path:

    config.json  generation_config.json  tokenizer.json  tokenizer_config.json
    onnx/encoder_model.onnx            onnx/decoder_model_merged.onnx             (dtype fp32)
    onnx/encoder_model_quantized.onnx  onnx/decoder_model_merged_quantized.onnx   (dtype q8)

fp32 is optimum's `text2text-generation-with-past` export of the same weights; q8 is onnxruntime's
dynamic quantization of it (int8 weights, per output channel, activations quantized on the fly),
which is what the hub's `*_quantized.onnx` files of t5-small are. Needs optimum-onnx (which wants
transformers < 4.58) and onnxruntime: build.sh gives it a virtual environment of its own.
"""
import json
import pathlib
import shutil
import sys


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (src / name).exists():
            print(f"export_onnx: {src / name} is missing", file=sys.stderr)
            return 1

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from optimum.exporters.onnx import main_export

    onnx = out / "onnx"
    tmp = out / "export"
    shutil.rmtree(tmp, ignore_errors=True)
    onnx.mkdir(parents=True, exist_ok=True)
    main_export(str(src), output=str(tmp), task="text2text-generation-with-past", device="cpu")
    for name in ("encoder_model.onnx", "decoder_model_merged.onnx"):
        if not (tmp / name).exists():
            print(f"export_onnx: optimum wrote no {name} (got {sorted(p.name for p in tmp.iterdir())})", file=sys.stderr)
            return 1
        shutil.copy(tmp / name, onnx / name)
        quantize_dynamic(
            onnx / name,
            onnx / name.replace(".onnx", "_quantized.onnx"),
            weight_type=QuantType.QInt8,
            per_channel=True,
            # The merged decoder keeps its two branches (first step, with past) in If subgraphs.
            extra_options={"EnableSubgraph": True},
        )
    shutil.rmtree(tmp)

    config = json.loads((src / "config.json").read_text())
    (out / "config.json").write_text(json.dumps(config, indent=2))
    shutil.copy(src / "tokenizer.json", out / "tokenizer.json")
    # No generation defaults beyond the ids: every run passes its settings explicitly.
    (out / "generation_config.json").write_text(json.dumps({
        "decoder_start_token_id": config["decoder_start_token_id"],
        "eos_token_id": config["eos_token_id"],
        "pad_token_id": config["pad_token_id"],
    }, indent=2))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "T5Tokenizer",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "model_max_length": 512,
    }, indent=2))
    for p in sorted(onnx.iterdir()):
        print(f"{p}: {p.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
