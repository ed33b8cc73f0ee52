//! Quantizing a checkpoint into a GGUF file, for self-hosting smaller weights.
//!
//! Linear layers (attention, feed-forward, embedding and LM head) are quantized; layer norms and
//! relative-position tables stay f32. A matrix whose rows do not split into whole blocks of the
//! requested type falls back as llama.cpp does (q4k → q5_0, q5k → q5_1, q6k → q8_0), else stays
//! f32; the report says which tensors did.

use std::collections::BTreeMap;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};

use super::weights::{ggml_name, Weights};
use crate::error::{Error, Result};

/// Types the converter writes, by the names the CLI accepts.
pub const TYPES: [(&str, GgmlDType); 10] = [
    ("q8_0", GgmlDType::Q8_0),
    ("q4_0", GgmlDType::Q4_0),
    ("q4_1", GgmlDType::Q4_1),
    ("q5_0", GgmlDType::Q5_0),
    ("q5_1", GgmlDType::Q5_1),
    ("q4k", GgmlDType::Q4K),
    ("q5k", GgmlDType::Q5K),
    ("q6k", GgmlDType::Q6K),
    ("f16", GgmlDType::F16),
    ("f32", GgmlDType::F32),
];

/// The type named `name` (`q8_0`, `q4k`, ...; `q4_k` is accepted too).
pub fn parse_type(name: &str) -> Result<GgmlDType> {
    let n = name.to_ascii_lowercase().replace("_k", "k");
    TYPES
        .iter()
        .find(|(t, _)| *t == n)
        .map(|(_, d)| *d)
        .ok_or_else(|| {
            Error::InvalidOption(format!(
                "unknown quantization type '{name}'; choose one of {}",
                TYPES.map(|(t, _)| t).join(", ")
            ))
        })
}

/// What a conversion wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Tensor count per stored type.
    pub counts: BTreeMap<&'static str, usize>,
    /// Tensors not stored in the requested type: name, type used, why.
    pub fallbacks: Vec<(String, &'static str, String)>,
    /// Size of the GGUF file.
    pub bytes: usize,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<String> = self
            .counts
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        write!(f, "{} bytes; tensors: {}", self.bytes, counts.join(", "))?;
        for (name, used, why) in &self.fallbacks {
            write!(f, "\n  {name}: {used} ({why})")?;
        }
        Ok(())
    }
}

/// Whether tensor `name` of rank `rank` is a linear layer's (or the embedding's) weight matrix:
/// what quantizing converts.
pub fn is_linear(name: &str, rank: usize) -> bool {
    rank == 2
        && name.ends_with(".weight")
        && !name.contains("layer_norm")
        && !name.contains("relative_attention_bias")
}

/// llama.cpp's substitute for a k-quant when rows are not a multiple of 256.
fn fallback(dtype: GgmlDType) -> Option<GgmlDType> {
    match dtype {
        GgmlDType::Q4K => Some(GgmlDType::Q5_0),
        GgmlDType::Q5K => Some(GgmlDType::Q5_1),
        GgmlDType::Q6K => Some(GgmlDType::Q8_0),
        _ => None,
    }
}

/// Converts `weights` to a GGUF file with linear layers in `dtype`.
pub fn quantize(weights: &Weights, dtype: GgmlDType) -> Result<(Vec<u8>, Report)> {
    let mut report = Report::default();
    let mut out: Vec<(String, QTensor)> = Vec::new();
    for name in weights.names() {
        let t = weights
            .get_f32(name)?
            .expect("names() lists stored tensors");
        let dims = t.dims().to_vec();
        let row = *dims.last().unwrap_or(&1);
        let target = if !is_linear(name, dims.len()) {
            GgmlDType::F32
        } else if row % dtype.block_size() == 0 {
            dtype
        } else {
            let (used, why) = match fallback(dtype) {
                Some(f) if row % f.block_size() == 0 => (f, "llama.cpp's substitute"),
                _ => (GgmlDType::F32, "kept in full precision"),
            };
            report.fallbacks.push((
                name.to_string(),
                ggml_name(used),
                format!(
                    "rows of {row} are not a multiple of {}'s block of {}; {why}",
                    ggml_name(dtype),
                    dtype.block_size()
                ),
            ));
            used
        };
        let q = QTensor::quantize(&t, target)?;
        *report.counts.entry(ggml_name(target)).or_default() += 1;
        out.push((name.to_string(), q));
    }
    let arch = gguf_file::Value::String("t5".into());
    let kind = gguf_file::Value::String(ggml_name(dtype).into());
    let source = gguf_file::Value::String(weights.stored_dtype().into());
    let metadata = [
        ("general.architecture", &arch),
        ("t5summarizer.quantization", &kind),
        ("t5summarizer.source_dtype", &source),
    ];
    let tensors: Vec<(&str, &QTensor)> = out.iter().map(|(n, q)| (n.as_str(), q)).collect();
    let mut file = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut file, &metadata, &tensors)?;
    let bytes = file.into_inner();
    report.bytes = bytes.len();
    Ok((bytes, report))
}
