//! Named weight tensors read from a checkpoint file, checked against the shapes the config implies.
//!
//! The T5 module asks this store for tensors by their Hugging Face names; it does not care whether
//! they came from f32, f16 or bf16 safetensors (all widened to f32 here) or from a GGUF file
//! whose linear layers are quantized (q8_0, q4k, ...): those stay quantized behind `linear`.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// One stored tensor.
enum Stored {
    /// Full precision (f32 in memory).
    Dense(Tensor),
    /// Quantized blocks, multiplied without dequantizing.
    Quantized(Arc<QTensor>),
}

impl Stored {
    fn dims(&self) -> &[usize] {
        match self {
            Stored::Dense(t) => t.dims(),
            Stored::Quantized(q) => q.shape().dims(),
        }
    }

    /// The values in f32 (dequantized if stored quantized).
    fn to_f32(&self) -> Result<Tensor> {
        Ok(match self {
            Stored::Dense(t) => t.clone(),
            Stored::Quantized(q) => q.dequantize(&q.device())?,
        })
    }

    fn bytes(&self) -> usize {
        match self {
            Stored::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Stored::Quantized(q) => q.storage_size_in_bytes(),
        }
    }
}

/// The weights of one checkpoint, keyed by tensor name.
pub struct Weights {
    file: String,
    tensors: HashMap<String, Stored>,
    stored_dtype: String,
}

/// The first bytes of every GGUF file.
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// Whether `bytes` look like a GGUF file.
pub fn is_gguf(bytes: &[u8]) -> bool {
    bytes.starts_with(GGUF_MAGIC)
}

/// The name GGUF tools use for a ggml type (`q8_0`, `q4k`, `f16`, ...).
pub fn ggml_name(dtype: GgmlDType) -> &'static str {
    match dtype {
        GgmlDType::F32 => "f32",
        GgmlDType::F16 => "f16",
        GgmlDType::BF16 => "bf16",
        GgmlDType::Q4_0 => "q4_0",
        GgmlDType::Q4_1 => "q4_1",
        GgmlDType::Q5_0 => "q5_0",
        GgmlDType::Q5_1 => "q5_1",
        GgmlDType::Q8_0 => "q8_0",
        GgmlDType::Q8_1 => "q8_1",
        GgmlDType::Q2K => "q2k",
        GgmlDType::Q3K => "q3k",
        GgmlDType::Q4K => "q4k",
        GgmlDType::Q5K => "q5k",
        GgmlDType::Q6K => "q6k",
        GgmlDType::Q8K => "q8k",
    }
}

impl Weights {
    /// Parses a weights file held in memory: GGUF when it starts with the GGUF magic, else
    /// safetensors.
    pub fn from_bytes(file: &str, bytes: &[u8], device: &Device) -> Result<Self> {
        if is_gguf(bytes) {
            Self::from_gguf(file, bytes, device)
        } else {
            Self::from_safetensors(file, bytes, device)
        }
    }

    /// Weights from tensors already in memory (f32).
    pub fn from_tensors(file: &str, tensors: HashMap<String, Tensor>) -> Self {
        Weights {
            file: file.to_string(),
            tensors: tensors
                .into_iter()
                .map(|(n, t)| (n, Stored::Dense(t)))
                .collect(),
            stored_dtype: "f32".into(),
        }
    }

    /// Parses a GGUF file held in memory. Quantized tensors stay quantized; f32/f16/bf16 ones
    /// are widened to f32.
    pub fn from_gguf(file: &str, bytes: &[u8], device: &Device) -> Result<Self> {
        let broken = |e: candle_core::Error| {
            Error::model_file(
                file,
                format!("not a readable GGUF file: truncated or corrupt ({e})"),
            )
        };
        let mut reader = std::io::Cursor::new(bytes);
        let content = gguf_file::Content::read(&mut reader).map_err(broken)?;
        let mut tensors = HashMap::with_capacity(content.tensor_infos.len());
        let mut stored = std::collections::BTreeSet::new();
        let mut names: Vec<&String> = content.tensor_infos.keys().collect();
        names.sort();
        for name in names {
            let q = content.tensor(&mut reader, name, device).map_err(broken)?;
            stored.insert(ggml_name(q.dtype()));
            let t = match q.dtype() {
                GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                    Stored::Dense(q.dequantize(device)?)
                }
                _ => Stored::Quantized(Arc::new(q)),
            };
            tensors.insert(name.clone(), t);
        }
        Self::collected(file, tensors, stored)
    }

    /// The weights read from `file`, with the set of precisions seen in it.
    fn collected(
        file: &str,
        tensors: HashMap<String, Stored>,
        stored: std::collections::BTreeSet<&str>,
    ) -> Result<Self> {
        if tensors.is_empty() {
            return Err(Error::model_file(file, "the file holds no tensors"));
        }
        Ok(Weights {
            file: file.to_string(),
            tensors,
            stored_dtype: stored.into_iter().collect::<Vec<_>>().join("+"),
        })
    }

    /// Parses a `.safetensors` file held in memory; f16 and bf16 tensors are widened to f32.
    pub fn from_safetensors(file: &str, bytes: &[u8], device: &Device) -> Result<Self> {
        let raw = candle_core::safetensors::load_buffer(bytes, device).map_err(|e| {
            Error::model_file(
                file,
                format!("not a readable safetensors file: truncated or corrupt ({e})"),
            )
        })?;
        let mut tensors = HashMap::with_capacity(raw.len());
        let mut stored = std::collections::BTreeSet::new();
        for (name, tensor) in raw {
            stored.insert(dtype_name(tensor.dtype()));
            let tensor = match tensor.dtype() {
                DType::F32 => tensor,
                DType::F16 | DType::BF16 | DType::F64 => tensor.to_dtype(DType::F32)?,
                other => {
                    return Err(Error::model_file(
                        file,
                        format!("tensor '{name}' has dtype {other:?}; expected f32, f16 or bf16"),
                    ))
                }
            };
            tensors.insert(name, Stored::Dense(tensor));
        }
        Self::collected(file, tensors, stored)
    }

    /// Precision of the tensors as stored in the file (`f32`, `f16`, `bf16`, `q8_0`, ...; mixed
    /// files list each, as `f32+q8_0`).
    pub fn stored_dtype(&self) -> &str {
        &self.stored_dtype
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn get(&self, name: &str, shape: &[usize]) -> Result<&Stored> {
        let t = self.tensors.get(name).ok_or_else(|| {
            Error::model_file(
                &self.file,
                format!("missing tensor '{name}' (does config.json describe these weights?)"),
            )
        })?;
        if t.dims() != shape {
            return Err(Error::model_file(
                &self.file,
                format!(
                    "tensor '{name}' has shape {:?} but config.json implies {shape:?}",
                    t.dims()
                ),
            ));
        }
        Ok(t)
    }

    /// The tensor `name` in f32 (dequantized if stored quantized), which must have exactly
    /// `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
        self.get(name, shape)?.to_f32()
    }

    /// A bias-free linear layer `name.weight` of shape `[out, in]`; quantized weights stay
    /// quantized.
    pub fn linear(&self, name: &str, out_dim: usize, in_dim: usize) -> Result<QMatMul> {
        Ok(
            match self.get(&format!("{name}.weight"), &[out_dim, in_dim])? {
                Stored::Dense(t) => QMatMul::Tensor(t.clone()),
                Stored::Quantized(q) => QMatMul::QTensor(q.clone()),
            },
        )
    }

    /// Total bytes of all tensors as held in memory (f32, or quantized blocks).
    pub fn loaded_bytes(&self) -> usize {
        self.tensors.values().map(Stored::bytes).sum()
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The tensor `name` in f32 whatever its shape, if present.
    pub fn get_f32(&self, name: &str) -> Result<Option<Tensor>> {
        self.tensors.get(name).map(Stored::to_f32).transpose()
    }
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::BF16 => "bf16",
        DType::F64 => "f64",
        _ => "other",
    }
}
