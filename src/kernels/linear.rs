//! The linear layer: which kernel multiplies which weights.

use super::*;

/// A bias-free linear layer: candle's `QMatMul` (the reference path, used for many rows) and,
/// for f32 and q8_0 weights, the few-row kernels above; or int8 rows, which only the int8
/// kernel multiplies.
pub struct Linear {
    weight: Weight,
    /// Block facts of q8_0 weights, made when the kernels are first enabled.
    q8_0_blocks: Option<Q8_0Blocks>,
    /// Rows up to which the kernels run (0: never).
    kernel_rows: usize,
}

pub(super) enum Weight {
    Candle(QMatMul),
    Int8(std::sync::Arc<Int8Rows>),
}

/// Whether this build runs the kernels by default: only with SIMD128 (wasm). Native builds have
/// candle's AVX paths, which are faster than a portable loop.
pub const KERNELS_BY_DEFAULT: bool = cfg!(target_feature = "simd128");

impl Linear {
    /// Wraps `reference`; where [`KERNELS_BY_DEFAULT`], f32 and q8_0 products of any number of
    /// rows go through the kernels (in headless Chromium they beat candle's packed GEMM by
    /// about 1.3× on t5-small's 512-row encoder products, and its generic quantized matmul by
    /// more).
    pub fn new(reference: QMatMul) -> Self {
        let mut layer = Linear {
            weight: Weight::Candle(reference),
            q8_0_blocks: None,
            kernel_rows: 0,
        };
        if KERNELS_BY_DEFAULT {
            layer.set_kernel_rows(usize::MAX);
        }
        layer
    }

    /// A layer of int8 rows: every product, of any number of rows, goes through
    /// [`matmul_int8`] (candle has no such type, so there is no reference path).
    pub fn int8(rows: impl Into<std::sync::Arc<Int8Rows>>) -> Self {
        Linear {
            weight: Weight::Int8(rows.into()),
            q8_0_blocks: None,
            kernel_rows: usize::MAX,
        }
    }

    /// The rows of `parts`' weights, one after another, as one layer (`[.., in]` to the parts'
    /// outputs side by side), which runs as one product: one pass over the input, one
    /// quantization of it, one split over threads. `None` where the weights cannot be joined
    /// (candle's quantized types, mixed types or row lengths).
    pub fn stack(parts: &[&Linear]) -> Option<Linear> {
        let first = parts.first()?;
        let weight = match &first.weight {
            Weight::Int8(_) => {
                let rows = parts
                    .iter()
                    .map(|p| match &p.weight {
                        Weight::Int8(r) => Some(&**r),
                        Weight::Candle(_) => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                Weight::Int8(std::sync::Arc::new(Int8Rows::stack(&rows)?))
            }
            Weight::Candle(first_weight @ (QMatMul::Tensor(_) | QMatMul::TensorF16(_))) => {
                // Every part of the same kind as the first (cat refuses mixed dtypes).
                let tensors = parts
                    .iter()
                    .map(|p| match (&p.weight, first_weight) {
                        (Weight::Candle(QMatMul::Tensor(t)), QMatMul::Tensor(_))
                        | (Weight::Candle(QMatMul::TensorF16(t)), QMatMul::TensorF16(_)) => Some(t),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()?;
                let joined = Tensor::cat(&tensors, 0).ok()?;
                Weight::Candle(match first_weight {
                    QMatMul::TensorF16(_) => QMatMul::TensorF16(joined),
                    _ => QMatMul::Tensor(joined),
                })
            }
            Weight::Candle(QMatMul::QTensor(_)) => return None,
        };
        Some(Linear {
            weight,
            q8_0_blocks: None,
            kernel_rows: first.kernel_rows,
        })
    }

    /// The weights' type: `f32`, `q8_0`, ... (candle's), or `int8`.
    pub fn kind(&self) -> String {
        match &self.weight {
            Weight::Candle(QMatMul::QTensor(q)) => format!("{:?}", q.dtype()).to_lowercase(),
            Weight::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => {
                format!("{:?}", t.dtype()).to_lowercase()
            }
            Weight::Int8(_) => "int8".to_string(),
        }
    }

    /// Makes the kernels run for up to `rows` rows (0: always the reference path). Int8 layers
    /// always run their kernel.
    pub fn set_kernel_rows(&mut self, rows: usize) {
        let Weight::Candle(reference) = &self.weight else {
            return;
        };
        self.kernel_rows = rows;
        if let QMatMul::QTensor(q) = reference {
            if rows > 0 && q.dtype() == GgmlDType::Q8_0 && self.q8_0_blocks.is_none() {
                if let (Ok(data), Ok((n, k))) = (q.data(), q.shape().dims2()) {
                    self.q8_0_blocks = Some(Q8_0Blocks::new(&data, n, k / Q8_0_BLOCK));
                }
            }
        }
    }

    /// `xs · wᵀ` for `xs` of shape `[..., in]`.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.elem_count() / xs.dim(D::Minus1)?.max(1);
        if rows <= self.kernel_rows {
            if let Some(out) = self.forward_kernel_then(xs, false)? {
                return Ok(out);
            }
        }
        self.forward_reference(xs)
    }

    /// `relu(xs · wᵀ)`: on the kernel path the ReLU is applied to the product before it becomes a
    /// tensor (no second pass through candle); the reference path is candle's matmul and `relu`.
    pub fn forward_relu(&self, xs: &Tensor) -> Result<Tensor> {
        let rows = xs.elem_count() / xs.dim(D::Minus1)?.max(1);
        if rows <= self.kernel_rows {
            if let Some(out) = self.forward_kernel_then(xs, true)? {
                return Ok(out);
            }
        }
        Ok(self.forward_reference(xs)?.relu()?)
    }

    /// `xs · wᵀ` for `xs` `[b, seq, in]` with the output's columns taken as `parts` of
    /// attention heads ([`HeadsLayout`]), written head-major by the kernel as it makes them:
    /// `[parts, b, heads, seq, d_kv]`. `None` where no kernel runs (candle's reference path,
    /// candle's quantized types) or the shapes do not fit the layout.
    pub fn forward_heads(&self, xs: &Tensor, layout: HeadsLayout) -> Result<Option<Tensor>> {
        let (b, seq, k) = xs.dims3()?;
        let width = layout.heads * layout.d_kv;
        let m = b * seq;
        let fits = |n: usize| {
            seq == layout.seq && layout.d_kv % BLOCK_COLS == 0 && width > 0 && n % width == 0
        };
        if xs.dtype() != DType::F32 || !xs.device().is_cpu() || m > self.kernel_rows {
            return Ok(None);
        }
        let product = with_f32(xs, |x| {
            Ok(match &self.weight {
                Weight::Int8(w) => {
                    let (n, wk) = w.dims();
                    (wk == k && fits(n)).then(|| {
                        let y = written(m * n, |y| {
                            matmul_int8_then::<false>(x, m, w, Out::heads(y, m, n, layout))
                        });
                        (n, y)
                    })
                }
                Weight::Candle(QMatMul::Tensor(w)) if w.dtype() == DType::F32 => {
                    let (n, wk) = w.dims2()?;
                    if wk != k || !fits(n) {
                        return Ok(None);
                    }
                    with_f32(w, |w| {
                        let y = written(m * n, |y| {
                            matmul_f32_into(x, m, w, n, k, Out::heads(y, m, n, layout))
                        });
                        Ok(Some((n, y)))
                    })?
                }
                _ => None,
            })
        })?;
        let Some((n, y)) = product else {
            return Ok(None);
        };
        let shape = (n / width, b, layout.heads, seq, layout.d_kv);
        Ok(Some(Tensor::from_vec(y, shape, &Device::Cpu)?))
    }

    /// candle's matmul (for int8 rows, which candle cannot multiply, the int8 kernel).
    pub fn forward_reference(&self, xs: &Tensor) -> Result<Tensor> {
        match &self.weight {
            Weight::Candle(reference) => Ok(reference.forward(xs)?),
            Weight::Int8(_) => self
                .forward_kernel_then(&xs.to_dtype(DType::F32)?, false)?
                .ok_or_else(|| {
                    candle_core::Error::Msg("int8 weights need activations on the CPU".into())
                        .into()
                }),
        }
    }

    /// The kernels' product, or `None` where they do not apply (weights neither f32, q8_0 nor
    /// int8, activations not f32 on the CPU, kernels never enabled for q8_0 weights).
    pub fn forward_kernel(&self, xs: &Tensor) -> Result<Option<Tensor>> {
        self.forward_kernel_then(xs, false)
    }

    /// [`Self::forward_kernel`], with ReLU applied to the product when `relu`.
    fn forward_kernel_then(&self, xs: &Tensor, relu: bool) -> Result<Option<Tensor>> {
        if xs.dtype() != DType::F32 || !xs.device().is_cpu() {
            return Ok(None);
        }
        let mut dims = xs.dims().to_vec();
        let k = *dims.last().unwrap_or(&0);
        let m = xs.elem_count() / k.max(1);
        let xs = xs.contiguous()?;
        let (xs_storage, xs_layout) = xs.storage_and_layout();
        let Storage::Cpu(xs_cpu) = &*xs_storage else {
            return Ok(None);
        };
        let x = &xs_cpu.as_slice::<f32>()?[xs_layout.start_offset()..][..m * k];
        let mut y = match &self.weight {
            Weight::Int8(w) => {
                let (n, wk) = w.dims();
                if wk != k {
                    return Ok(None);
                }
                let y = written(m * n, |y| match relu {
                    true => matmul_int8_then::<true>(x, m, w, Out::at(y, n)),
                    false => matmul_int8_then::<false>(x, m, w, Out::at(y, n)),
                });
                *dims.last_mut().expect("rank >= 1") = n;
                return Ok(Some(Tensor::from_vec(y, dims, &Device::Cpu)?));
            }
            Weight::Candle(QMatMul::Tensor(w) | QMatMul::TensorF16(w))
                if w.dtype() == DType::F32 =>
            {
                let (n, wk) = w.dims2()?;
                if wk != k {
                    return Ok(None);
                }
                let (w_storage, w_layout) = w.storage_and_layout();
                let Storage::Cpu(w_cpu) = &*w_storage else {
                    return Ok(None);
                };
                let Some((a, b)) = w_layout.contiguous_offsets() else {
                    return Ok(None);
                };
                let w = &w_cpu.as_slice::<f32>()?[a..b];
                let y = written(m * n, |y| matmul_f32_into(x, m, w, n, k, Out::at(y, n)));
                *dims.last_mut().expect("rank >= 1") = n;
                y
            }
            Weight::Candle(QMatMul::QTensor(q)) if q.dtype() == GgmlDType::Q8_0 => {
                let (n, wk) = q.shape().dims2()?;
                let Some(info) = &self.q8_0_blocks else {
                    return Ok(None);
                };
                if wk != k || k % Q8_0_BLOCK != 0 {
                    return Ok(None);
                }
                let data = q.data()?;
                let mut y = vec![0f32; m * n];
                matmul_q8_0(x, m, &data, info, n, k, &mut y);
                *dims.last_mut().expect("rank >= 1") = n;
                y
            }
            _ => return Ok(None),
        };
        if relu {
            relu_in_place(&mut y);
        }
        Ok(Some(Tensor::from_vec(y, dims, &Device::Cpu)?))
    }
}
