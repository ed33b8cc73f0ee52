//! Named weight tensors read from a checkpoint file, checked against the shapes the config implies.
//!
//! The T5 module asks this store for tensors by their Hugging Face names; it does not care whether
//! they came from f32, f16 or bf16 safetensors (all widened to f32 here). Quantized GGUF files
//! plug in behind the same `linear` call.

use std::collections::HashMap;

use candle_core::quantized::QMatMul;
use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// The weights of one checkpoint, keyed by tensor name.
pub struct Weights {
    file: String,
    tensors: HashMap<String, Tensor>,
    stored_dtype: String,
}

impl Weights {
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
            tensors.insert(name, tensor);
        }
        if tensors.is_empty() {
            return Err(Error::model_file(file, "the file holds no tensors"));
        }
        Ok(Weights {
            file: file.to_string(),
            tensors,
            stored_dtype: stored.into_iter().collect::<Vec<_>>().join("+"),
        })
    }

    /// Precision of the tensors as stored in the file (`f32`, `f16`, `bf16`; mixed files list
    /// each, as `f16+f32`).
    pub fn stored_dtype(&self) -> &str {
        &self.stored_dtype
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensor `name`, which must have exactly `shape`.
    pub fn tensor(&self, name: &str, shape: &[usize]) -> Result<Tensor> {
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
        Ok(t.clone())
    }

    /// A bias-free linear layer `name.weight` of shape `[out, in]`.
    pub fn linear(&self, name: &str, out_dim: usize, in_dim: usize) -> Result<QMatMul> {
        let w = self.tensor(&format!("{name}.weight"), &[out_dim, in_dim])?;
        Ok(QMatMul::Tensor(w))
    }

    /// Total bytes of all tensors as loaded (f32).
    pub fn loaded_bytes(&self) -> usize {
        self.tensors
            .values()
            .map(|t| t.elem_count() * t.dtype().size_in_bytes())
            .sum()
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
