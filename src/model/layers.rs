//! The compute layers a model is built of, made from the tensors the weight store hands out:
//! a linear layer per stored matrix (f32, quantized blocks or int8 rows, each kept as stored)
//! and the embedding table.

use std::sync::Arc;

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Tensor};

use super::weights::{StoredTensor, Weights};
use crate::error::Result;
use crate::kernels::{Int8Rows, Linear};

/// A bias-free linear layer from `name.weight`, of shape `[out, in]`; quantized weights stay
/// quantized and int8 rows stay int8.
pub fn linear(w: &Weights, name: &str, out_dim: usize, in_dim: usize) -> Result<Linear> {
    let stored = w.stored(&format!("{name}.weight"), &[out_dim, in_dim])?;
    Ok(linear_from(stored))
}

/// [`linear`], taking the weights out of the store (the layer is then their only holder).
pub fn take_linear(w: &mut Weights, name: &str, out_dim: usize, in_dim: usize) -> Result<Linear> {
    let stored = w.take(&format!("{name}.weight"), &[out_dim, in_dim])?;
    Ok(linear_from(stored))
}

fn linear_from(stored: StoredTensor) -> Linear {
    match stored {
        StoredTensor::Dense(t) => Linear::new(QMatMul::Tensor(t)),
        StoredTensor::Quantized(q) => Linear::new(QMatMul::QTensor(q)),
        StoredTensor::Int8(r) => Linear::int8(r),
    }
}

/// An embedding table, f32 or quantized by rows.
pub enum Embedding {
    /// f32 rows.
    Dense(Tensor),
    /// Quantized rows (whole blocks per row), dequantized when looked up.
    Quantized(Arc<QTensor>),
    /// Int8 rows (shared with a tied LM head), dequantized when looked up.
    Int8(Arc<Int8Rows>),
}

impl Embedding {
    /// The embedding table `name` of shape `[rows, cols]`. A quantized table stays quantized
    /// and only the rows looked up are dequantized, so it is not held a second time in f32.
    pub fn load(w: &Weights, name: &str, rows: usize, cols: usize) -> Result<Self> {
        Ok(match w.stored(name, &[rows, cols])? {
            StoredTensor::Dense(t) => Embedding::Dense(t),
            StoredTensor::Quantized(q) if cols % q.dtype().block_size() == 0 => {
                Embedding::Quantized(q)
            }
            StoredTensor::Quantized(q) => Embedding::Dense(q.dequantize(&q.device())?),
            StoredTensor::Int8(r) => Embedding::Int8(r),
        })
    }
    /// The rows `ids` (flattened), as `[ids.len(), cols]` f32.
    pub fn lookup(&self, ids: &Tensor) -> Result<Tensor> {
        let ids = ids.flatten_all()?;
        match self {
            Embedding::Dense(t) => Ok(t.index_select(&ids, 0)?),
            Embedding::Int8(r) => {
                let ids = ids.to_vec1::<u32>()?;
                let (rows, cols) = r.dims();
                let mut out = Vec::with_capacity(ids.len() * cols);
                for &id in &ids {
                    if id as usize >= rows {
                        return Err(candle_core::Error::Msg(format!(
                            "token id {id} outside the embedding table of {rows} rows"
                        ))
                        .into());
                    }
                    out.extend(r.dequantize_row(id as usize));
                }
                Ok(Tensor::from_vec(out, (ids.len(), cols), &Device::Cpu)?)
            }
            Embedding::Quantized(q) => {
                let (rows, cols) = q.shape().dims2()?;
                let data = q.data()?;
                let row_bytes = data.len() / rows;
                let ids = ids.to_vec1::<u32>()?;
                let mut picked = Vec::with_capacity(ids.len() * row_bytes);
                for &id in &ids {
                    let id = id as usize;
                    if id >= rows {
                        return Err(candle_core::Error::Msg(format!(
                            "token id {id} outside the embedding table of {rows} rows"
                        ))
                        .into());
                    }
                    picked.extend_from_slice(&data[id * row_bytes..(id + 1) * row_bytes]);
                }
                let device = q.device();
                let rows = candle_core::quantized::ggml_file::qtensor_from_ggml(
                    q.dtype(),
                    &picked,
                    vec![ids.len(), cols],
                    &device,
                )?;
                Ok(rows.dequantize(&device)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;

    fn values(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect()
    }

    /// Rows looked up in a quantized table equal the same rows of the dequantized table.
    #[test]
    fn quantized_embedding_rows_equal_dequantized_rows() {
        let table = Tensor::from_vec(values(40 * 64), (40, 64), &Device::Cpu).unwrap();
        let q = Arc::new(QTensor::quantize(&table, GgmlDType::Q8_0).unwrap());
        let full = q.dequantize(&Device::Cpu).unwrap();
        let ids = Tensor::new(&[[3u32, 0, 39, 3]], &Device::Cpu).unwrap();
        let got = Embedding::Quantized(q).lookup(&ids).unwrap();
        let want = full.index_select(&ids.flatten_all().unwrap(), 0).unwrap();
        assert_eq!(
            got.to_vec2::<f32>().unwrap(),
            want.to_vec2::<f32>().unwrap()
        );
        let bad = Tensor::new(&[40u32], &Device::Cpu).unwrap();
        let table = Arc::new(QTensor::quantize(&table, GgmlDType::Q8_0).unwrap());
        assert!(Embedding::Quantized(table).lookup(&bad).is_err());
    }
}
