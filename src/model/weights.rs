//! Named weight tensors read from a checkpoint file, checked against the shapes the config implies.
//!
//! The T5 module asks this store for tensors by their Hugging Face names; it does not care whether
//! they came from f32, f16 or bf16 safetensors (all widened to f32 here) or from a GGUF file
//! whose linear layers are quantized (q8_0, q4k, ...): those stay quantized ([`StoredTensor`]).
//! This module only parses and checks; `model::layers` builds the compute layers from what it
//! hands out.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::kernels::{with_f32, Int8Rows};
use crate::model::source::{ByteSource, SourceReader};

/// One stored tensor as read (a clone shares its data).
#[derive(Clone)]
pub enum StoredTensor {
    /// Full precision (f32 in memory).
    Dense(Tensor),
    /// Quantized blocks, multiplied without dequantizing.
    Quantized(Arc<QTensor>),
    /// Int8 rows (`quantize: "int8"`), converted as the file was read.
    Int8(Arc<Int8Rows>),
}

impl StoredTensor {
    fn dims(&self) -> &[usize] {
        match self {
            StoredTensor::Dense(t) => t.dims(),
            StoredTensor::Quantized(q) => q.shape().dims(),
            StoredTensor::Int8(r) => r.shape(),
        }
    }

    /// The values in f32 (dequantized if stored quantized).
    fn to_f32(&self) -> Result<Tensor> {
        Ok(match self {
            StoredTensor::Dense(t) => t.clone(),
            StoredTensor::Quantized(q) => q.dequantize(&q.device())?,
            StoredTensor::Int8(r) => Tensor::from_vec(r.dequantize(), r.shape(), &Device::Cpu)?,
        })
    }

    fn bytes(&self) -> usize {
        match self {
            StoredTensor::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            StoredTensor::Quantized(q) => q.storage_size_in_bytes(),
            StoredTensor::Int8(r) => r.bytes(),
        }
    }
}

/// The weights of one checkpoint, keyed by tensor name. A clone shares the tensors' data.
#[derive(Clone)]
pub struct Weights {
    file: String,
    tensors: HashMap<String, StoredTensor>,
    stored_dtype: String,
    /// Whether linear layers were converted to int8 rows.
    int8: bool,
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
        Self::from_source(file, &bytes, device)
    }

    /// Reads a weights file tensor by tensor from `source`: GGUF when it starts with the GGUF
    /// magic, else safetensors. Only one tensor's bytes are held beside the tensors at a time.
    pub fn from_source(file: &str, source: &dyn ByteSource, device: &Device) -> Result<Self> {
        Self::from_source_as(file, source, device, false)
    }

    /// [`Weights::from_source`], with every linear layer (attention, feed-forward, embedding and
    /// LM head) converted to int8 rows as it is read when `int8` (`quantize: "int8"`): the
    /// file's own copy of a tensor (f32, or q8_0 blocks) is dropped before the next is read, so
    /// the two never add up in memory.
    pub fn from_source_as(
        file: &str,
        source: &dyn ByteSource,
        device: &Device,
        int8: bool,
    ) -> Result<Self> {
        let mut reader = WeightsReader::new(file, source, device, int8)?;
        while reader.next_range().is_some() {
            reader.read_next(source)?;
        }
        reader.finish()
    }

    /// These weights with every linear layer converted to int8 rows (see
    /// [`Weights::from_source_as`], which converts while reading).
    pub fn convert_to_int8(mut self) -> Result<Self> {
        let names: Vec<String> = self.tensors.keys().cloned().collect();
        for name in names {
            let t = self.tensors.remove(&name).expect("listed");
            self.tensors.insert(name.clone(), to_int8(&name, t)?);
        }
        self.int8 = true;
        Ok(self)
    }

    /// Weights from tensors already in memory (f32).
    pub fn from_tensors(file: &str, tensors: HashMap<String, Tensor>) -> Self {
        Weights {
            file: file.to_string(),
            tensors: tensors
                .into_iter()
                .map(|(n, t)| (n, StoredTensor::Dense(t)))
                .collect(),
            stored_dtype: "f32".into(),
            int8: false,
        }
    }

    /// Precision of the tensors as stored in the file (`f32`, `f16`, `bf16`, `q8_0`, ...; mixed
    /// files list each, as `f32+q8_0`).
    pub fn stored_dtype(&self) -> &str {
        &self.stored_dtype
    }

    /// The precision the model computes in: [`Weights::stored_dtype`], followed by `→ int8`
    /// when linear layers were converted.
    pub fn compute_dtype(&self) -> String {
        if self.int8 {
            format!("{} → int8", self.stored_dtype)
        } else {
            self.stored_dtype.clone()
        }
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    fn get(&self, name: &str, shape: &[usize]) -> Result<&StoredTensor> {
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

    /// The tensor `name` as stored (quantized blocks and int8 rows stay so), which must have
    /// exactly `shape`. A clone: it shares the data with this store.
    pub fn stored(&self, name: &str, shape: &[usize]) -> Result<StoredTensor> {
        self.get(name, shape).cloned()
    }

    /// [`Self::stored`], taking the tensor out of this store (whoever holds it is then its only
    /// holder).
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<StoredTensor> {
        let t = self.stored(name, shape)?;
        self.tensors.remove(name);
        Ok(t)
    }

    /// Total bytes of all tensors as held in memory (f32, quantized blocks or int8 rows).
    pub fn loaded_bytes(&self) -> usize {
        self.tensors.values().map(StoredTensor::bytes).sum()
    }

    /// Tensor names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.tensors.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// The tensor `name` in f32 whatever its shape, if present.
    pub fn get_f32(&self, name: &str) -> Result<Option<Tensor>> {
        self.tensors.get(name).map(StoredTensor::to_f32).transpose()
    }
}

/// `t` as int8 rows if `name` is a linear layer's weight (see [`quantize::is_linear`]), else
/// as it is. q8_0 blocks convert row by row; other quantized types through f32.
fn to_int8(name: &str, t: StoredTensor) -> Result<StoredTensor> {
    let dims = t.dims().to_vec();
    if !crate::model::quantize::is_linear(name, dims.len()) {
        return Ok(t);
    }
    let (n, k) = (dims[0], dims[1]);
    let rows = match &t {
        StoredTensor::Int8(_) => return Ok(t),
        StoredTensor::Quantized(q)
            if q.dtype() == GgmlDType::Q8_0 && k % q.dtype().block_size() == 0 =>
        {
            Int8Rows::from_q8_0(&q.data()?, n, k)
        }
        StoredTensor::Dense(d) => with_f32(d, |v| Ok(Int8Rows::quantize(v, n, k)))?,
        StoredTensor::Quantized(_) => {
            let values = t.to_f32()?.flatten_all()?.to_vec1::<f32>()?;
            Int8Rows::quantize(&values, n, k)
        }
    };
    Ok(StoredTensor::Int8(Arc::new(rows)))
}

/// A weights file read a tensor at a time by a caller that fetches each tensor's bytes itself
/// between calls (in the browser: asynchronously, into a buffer it reuses, so no read leaves
/// garbage behind): [`WeightsReader::next_range`] says which bytes the next tensor is made of,
/// [`WeightsReader::read_next`] builds it from a source holding at least those bytes, and
/// [`WeightsReader::finish`] gives the weights. GGUF when the file starts with the GGUF magic,
/// else safetensors; with `int8`, every linear layer is converted to int8 rows as it is read
/// (see [`Weights::from_source_as`]).
pub struct WeightsReader {
    file: String,
    len: usize,
    device: Device,
    int8: bool,
    format: Format,
    /// Index of the next tensor to read.
    next: usize,
    tensors: HashMap<String, StoredTensor>,
    stored: std::collections::BTreeSet<&'static str>,
}

/// A weights file's header: where its tensors are.
enum Format {
    /// Quantized tensors stay quantized; f32/f16/bf16 ones are widened to f32. Read in name order.
    Gguf {
        content: gguf_file::Content,
        names: Vec<String>,
    },
    /// f16 and bf16 tensors are widened to f32; each tensor's bytes go straight into its own
    /// f32 buffer.
    Safetensors(Vec<(String, SafetensorsEntry)>),
}

impl WeightsReader {
    /// Reads the header of `file` from `source` (only the header: the tensors are read by
    /// [`WeightsReader::read_next`]).
    pub fn new(file: &str, source: &dyn ByteSource, device: &Device, int8: bool) -> Result<Self> {
        let mut magic = [0u8; 4];
        if source.len() >= 4 {
            source
                .read_at(0, &mut magic)
                .map_err(|e| unreadable(file, &e))?;
        }
        let format = if is_gguf(&magic) {
            let content = gguf_file::Content::read(&mut SourceReader::new(source))
                .map_err(|e| gguf_broken(file, e))?;
            let mut names: Vec<String> = content.tensor_infos.keys().cloned().collect();
            names.sort();
            Format::Gguf { content, names }
        } else {
            Format::Safetensors(
                safetensors_header(source).map_err(|why| safetensors_broken(file, why))?,
            )
        };
        Ok(WeightsReader {
            file: file.to_string(),
            len: source.len(),
            device: device.clone(),
            int8,
            format,
            next: 0,
            tensors: HashMap::new(),
            stored: std::collections::BTreeSet::new(),
        })
    }

    /// The bytes of the file the next tensor is made of (within the file), or `None` when every
    /// tensor has been read.
    pub fn next_range(&self) -> Option<std::ops::Range<usize>> {
        match &self.format {
            Format::Gguf { content, names } => {
                let info = &content.tensor_infos[names.get(self.next)?];
                let (elems, block) = (info.shape.elem_count(), info.ggml_dtype.block_size());
                let size = (elems / block.max(1)).saturating_mul(info.ggml_dtype.type_size());
                // A tensor past the end of a truncated file is reported by `read_next`.
                let start = usize::try_from(content.tensor_data_offset.saturating_add(info.offset))
                    .unwrap_or(usize::MAX)
                    .min(self.len);
                Some(start..start.saturating_add(size).min(self.len))
            }
            Format::Safetensors(entries) => {
                let (_, entry) = entries.get(self.next)?;
                Some(entry.start..entry.end)
            }
        }
    }

    /// Builds the next tensor from `source`, which must hold the bytes of
    /// [`WeightsReader::next_range`] at their offsets in the file.
    pub fn read_next(&mut self, source: &dyn ByteSource) -> Result<()> {
        let file = self.file.as_str();
        let (name, tensor) = match &self.format {
            Format::Gguf { content, names } => {
                let Some(name) = names.get(self.next) else {
                    return Ok(());
                };
                let q = content
                    .tensor(&mut SourceReader::new(source), name, &self.device)
                    .map_err(|e| gguf_broken(file, e))?;
                self.stored.insert(ggml_name(q.dtype()));
                let t = match q.dtype() {
                    GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
                        StoredTensor::Dense(q.dequantize(&self.device)?)
                    }
                    _ => StoredTensor::Quantized(Arc::new(q)),
                };
                (name.clone(), t)
            }
            Format::Safetensors(entries) => {
                let Some((name, info)) = entries.get(self.next) else {
                    return Ok(());
                };
                let count: usize = info.shape.iter().product();
                let values: Vec<f32> = match info.dtype.as_str() {
                    "F32" => {
                        let mut v = vec![0f32; count];
                        source
                            .read_at(info.start, bytemuck::cast_slice_mut(&mut v))
                            .map_err(|e| unreadable(file, &e))?;
                        v
                    }
                    "F16" | "BF16" => {
                        let mut v = vec![0u16; count];
                        source
                            .read_at(info.start, bytemuck::cast_slice_mut(&mut v))
                            .map_err(|e| unreadable(file, &e))?;
                        if info.dtype == "F16" {
                            v.into_iter()
                                .map(|b| half::f16::from_bits(b).to_f32())
                                .collect()
                        } else {
                            v.into_iter()
                                .map(|b| half::bf16::from_bits(b).to_f32())
                                .collect()
                        }
                    }
                    other => {
                        return Err(Error::model_file(
                            file,
                            format!(
                                "tensor '{name}' has dtype {}; expected f32, f16 or bf16",
                                other.to_lowercase()
                            ),
                        ))
                    }
                };
                self.stored.insert(match info.dtype.as_str() {
                    "F32" => "f32",
                    "F16" => "f16",
                    _ => "bf16",
                });
                let tensor = Tensor::from_vec(values, info.shape.clone(), &self.device)?;
                (name.clone(), StoredTensor::Dense(tensor))
            }
        };
        let tensor = if self.int8 {
            to_int8(&name, tensor)?
        } else {
            tensor
        };
        self.tensors.insert(name, tensor);
        self.next += 1;
        Ok(())
    }

    /// The weights, once every tensor has been read.
    pub fn finish(self) -> Result<Weights> {
        if self.tensors.is_empty() {
            return Err(Error::model_file(&self.file, "the file holds no tensors"));
        }
        if self.next_range().is_some() {
            return Err(Error::model_file(&self.file, "not every tensor was read"));
        }
        Ok(Weights {
            file: self.file,
            tensors: self.tensors,
            stored_dtype: self.stored.into_iter().collect::<Vec<_>>().join("+"),
            int8: self.int8,
        })
    }
}

fn gguf_broken(file: &str, e: candle_core::Error) -> Error {
    Error::model_file(
        file,
        format!("not a readable GGUF file: truncated or corrupt ({e})"),
    )
}

fn safetensors_broken(file: &str, why: String) -> Error {
    Error::model_file(
        file,
        format!("not a readable safetensors file: truncated or corrupt ({why})"),
    )
}

/// One tensor entry of a safetensors header, with its absolute byte offset in the file.
struct SafetensorsEntry {
    dtype: String,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// The error for a weights file whose bytes could not be read (not a format problem).
fn unreadable(file: &str, e: &std::io::Error) -> Error {
    Error::model_file(
        file,
        format!("the file could not be read ({e}); open or download it again"),
    )
}

/// Reads and checks a safetensors header with the `safetensors` crate's own parser: tensors lie
/// one after another without gaps or overlaps, each range holds exactly its dtype and shape, and
/// the data ends inside the file. Entries come in file order.
fn safetensors_header(
    source: &dyn ByteSource,
) -> std::result::Result<Vec<(String, SafetensorsEntry)>, String> {
    let len = source.len();
    if len < 8 {
        return Err(format!(
            "{len} bytes, shorter than the 8-byte header length"
        ));
    }
    let mut n = [0u8; 8];
    source.read_at(0, &mut n).map_err(|e| e.to_string())?;
    let n = u64::from_le_bytes(n);
    if n > (len - 8) as u64 || n > 100_000_000 {
        return Err(format!("header of {n} bytes in a file of {len}"));
    }
    let mut json = vec![0u8; n as usize];
    source.read_at(8, &mut json).map_err(|e| e.to_string())?;
    let header: safetensors::tensor::Metadata =
        serde_json::from_slice(&json).map_err(|e| format!("header: {e}"))?;
    let data_start = 8 + n as usize;
    if data_start + header.data_len() > len {
        return Err(format!(
            "its tensors need {} bytes after the header, the file has {}",
            header.data_len(),
            len - data_start
        ));
    }
    Ok(header
        .offset_keys()
        .into_iter()
        .filter_map(|name| {
            let info = header.info(&name)?;
            let (s, e) = info.data_offsets;
            let entry = SafetensorsEntry {
                dtype: info.dtype.to_string(),
                shape: info.shape.clone(),
                start: data_start + s,
                end: data_start + e,
            };
            Some((name, entry))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::DType;

    fn values(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0)
            .collect()
    }

    /// The tensor-by-tensor reader gives what candle's whole-buffer loader gives, for f32, f16
    /// and bf16 files, and refuses a file cut short.
    #[test]
    fn safetensors_reader_matches_candle_loader() {
        let dir = std::env::temp_dir().join(format!("t5-weights-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for dtype in [DType::F32, DType::F16, DType::BF16] {
            let a = Tensor::from_vec(values(6 * 4), (6, 4), &Device::Cpu).unwrap();
            let b = Tensor::from_vec(values(5), 5, &Device::Cpu).unwrap();
            let tensors: HashMap<String, Tensor> = [
                ("a.weight".to_string(), a.to_dtype(dtype).unwrap()),
                ("b".to_string(), b.to_dtype(dtype).unwrap()),
            ]
            .into();
            let path = dir.join(format!("{dtype:?}.safetensors"));
            candle_core::safetensors::save(&tensors, &path).unwrap();
            let bytes = std::fs::read(&path).unwrap();
            let ours = Weights::from_bytes("m.safetensors", &bytes, &Device::Cpu).unwrap();
            let theirs = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).unwrap();
            for (name, t) in theirs {
                let want: Vec<f32> = t
                    .to_dtype(DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1()
                    .unwrap();
                let got = ours.get_f32(&name).unwrap().unwrap();
                assert_eq!(got.dims(), t.dims());
                assert_eq!(got.flatten_all().unwrap().to_vec1::<f32>().unwrap(), want);
            }
            let err = Weights::from_bytes("m.safetensors", &bytes[..bytes.len() - 3], &Device::Cpu)
                .err()
                .expect("a cut file must fail");
            assert!(err.to_string().contains("truncated or corrupt"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A header whose ranges overlap, leave a gap, or do not hold their shape is refused, with
    /// the file named (the old hand-written check accepted the first two).
    #[test]
    fn safetensors_header_ranges_must_tile_the_data() {
        let file = |header: &str, data: usize| {
            let mut b = (header.len() as u64).to_le_bytes().to_vec();
            b.extend_from_slice(header.as_bytes());
            b.resize(b.len() + data, 0);
            b
        };
        let t = |name: &str, s: usize, e: usize| {
            format!(r#""{name}":{{"dtype":"F32","shape":[2],"data_offsets":[{s},{e}]}}"#)
        };
        let ok = file(&format!("{{{},{}}}", t("a", 0, 8), t("b", 8, 16)), 16);
        assert!(Weights::from_bytes("m.safetensors", &ok, &Device::Cpu).is_ok());
        for (what, header) in [
            ("overlap", format!("{{{},{}}}", t("a", 0, 8), t("b", 0, 8))),
            ("gap", format!("{{{},{}}}", t("a", 0, 8), t("b", 12, 20))),
            ("size", format!("{{{}}}", t("a", 0, 12))),
        ] {
            let err = Weights::from_bytes("m.safetensors", &file(&header, 24), &Device::Cpu)
                .err()
                .unwrap_or_else(|| panic!("{what}: accepted"));
            let msg = err.to_string();
            assert!(msg.starts_with("m.safetensors: "), "{what}: {msg}");
            assert!(msg.contains("truncated or corrupt"), "{what}: {msg}");
        }
    }
}
