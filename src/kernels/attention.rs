//! Attention: scores, softmax and values per head, in blocks of queries.

use super::*;

/// Unscaled dot-product attention (T5 folds the scale into its weights):
/// `softmax(q · kᵀ + bias) · v` for `q` `[b, h, sq, dk]`, `k` and `v` `[b or 1, h, sk, dk]` and
/// an additive `bias` `[1 or b, h, sq, sk]` (position bias, `-inf` where masked), returned as
/// `[b, sq, h · dk]`, the layout the output projection takes. Per head: the scores by
/// [`matmul_f32`], bias, softmax ([`softmax_row`]), then the values by [`matmul_f32_kn`]. (Scores
/// as a row-broadcast product against keys transposed once were about twice as fast per head in
/// a kernel diagnostic, but their summation order moved ours f32 off transformers.js fp32 after
/// 22 of 64 greedy tokens on the bench's random model, where these dot products keep 63.)
/// Keys and values of batch 1 serve every query batch entry (the encoder output all beams
/// attend to): each head's keys are then read once for the queries of all `b` entries. The
/// reference is candle's `matmul` (broadcast over the batch), `broadcast_add` and
/// `softmax_last_dim`.
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    let (b, h, sq, dk) = q.dims4()?;
    let (kb, kh, sk, kdk) = k.dims4()?;
    if (kb != b && kb != 1) || (kh, kdk) != (h, dk) || v.dims() != k.dims() {
        return Err(candle_core::Error::Msg(format!(
            "attention kernel: q {:?}, k {:?}, v {:?} do not fit",
            q.dims(),
            k.dims(),
            v.dims()
        ))
        .into());
    }
    let bias_batches = match bias {
        Some(bias) => {
            let (bb, bh, bq, bk) = bias.dims4()?;
            if (bh, bq, bk) != (h, sq, sk) || (bb != 1 && bb != b) {
                return Err(candle_core::Error::Msg(format!(
                    "attention kernel: bias {:?} does not fit scores [{b}, {h}, {sq}, {sk}]",
                    bias.dims()
                ))
                .into());
            }
            bb
        }
        None => 1,
    };
    // A unit of work: one head of one batch entry, or with shared keys one head of every entry.
    let entries = if kb == b { 1 } else { b };
    // ... cut into blocks of queries, so two threads share eight heads evenly and a block's
    // scores (128 × 512 f32: 256 KB, not a whole head's megabyte) stay in the cache.
    let head_rows = entries * sq;
    let blocks = head_rows.div_ceil(QUERY_BLOCK);
    let mut out = vec![0f32; b * sq * h * dk];
    let dst = Out::new(&mut out, b * sq, h * dk);
    let no_bias = Tensor::zeros(1, DType::F32, q.device())?;
    with_f32(q, |q| {
        with_f32(k, |k| {
            with_f32(v, |v| {
                with_f32(bias.unwrap_or(&no_bias), |bias_values| {
                    for_each_head(kb * h * blocks, b * h * sq * sk * dk, |unit| {
                        let (unit, block) = (unit / blocks, unit % blocks);
                        let (kbi, hi) = (unit / h, unit % h);
                        let rows = block * QUERY_BLOCK..((block + 1) * QUERY_BLOCK).min(head_rows);
                        let kh = &k[unit * sk * dk..][..sk * dk];
                        let vh = &v[unit * sk * dk..][..sk * dk];
                        // Row `at` of a unit's queries: batch entry `kbi + at / sq`, query `at % sq`.
                        let query = |at: usize| ((kbi + at / sq) * h + hi) * sq + at % sq;
                        let gathered;
                        let qh = if entries == 1 {
                            &q[query(rows.start) * dk..][..rows.len() * dk]
                        } else {
                            gathered = rows
                                .clone()
                                .flat_map(|at| &q[query(at) * dk..][..dk])
                                .copied()
                                .collect::<Vec<f32>>();
                            &gathered
                        };
                        let mut scores = written(rows.len() * sk, |y| {
                            matmul_f32_into(qh, rows.len(), kh, sk, dk, Out::at(y, sk))
                        });
                        for (at, row) in rows.clone().zip(scores.chunks_exact_mut(sk)) {
                            let (bi, i) = (kbi + at / sq, at % sq);
                            let bias_row = bias.is_some().then(|| {
                                let head = (bi % bias_batches) * h + hi;
                                &bias_values[(head * sq + i) * sk..][..sk]
                            });
                            softmax_row(row, bias_row);
                        }
                        let mut ctx = vec![0f32; rows.len() * dk];
                        matmul_f32_kn(&scores, rows.len(), vh, sk, dk, &mut ctx);
                        // Head `hi` owns columns hi·dk.. of every row of its batch entries.
                        for (at, row) in rows.zip(ctx.chunks_exact(dk)) {
                            dst.put(kbi * sq + at, hi * dk, row);
                        }
                    });
                    Ok(())
                })
            })
        })
    })?;
    Ok(Tensor::from_vec(out, (b, sq, h * dk), q.device())?)
}

/// Query rows of one unit of [`attention`]'s work.
pub(super) const QUERY_BLOCK: usize = 128;
