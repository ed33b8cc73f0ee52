//! Our own T5 encoder-decoder, written against the Hugging Face transformers reference.
//!
//! Differences from candle-transformers 0.11.1's `models::t5`, each matching transformers:
//! - the decoder's relative-position buckets are unidirectional (all buckets, `max_exact = n/2`);
//! - large distances are clamped to the last bucket;
//! - cross-attention keys and values are computed once per input, not at every step;
//! - with tied embeddings the decoder output is scaled by `d_model^-0.5` before the LM head.
//!
//! Tensors carry a batch dimension throughout so beam search can run hypotheses side by side.

use candle_core::{Device, Tensor};

use super::config::{Activation, T5Config};
use super::layers::{self, Embedding};
use super::weights::Weights;
use crate::error::Result;
use crate::kernels::{self, HeadsLayout, Linear, KERNELS_BY_DEFAULT};
use crate::metrics::profile;

/// T5's layer norm: RMS normalization with a learned scale and no bias or mean (transformers'
/// `T5LayerNorm`).
struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    fn load(w: &Weights, name: &str, cfg: &T5Config) -> Result<Self> {
        Ok(RmsNorm {
            weight: w.tensor(&format!("{name}.weight"), &[cfg.d_model])?,
            eps: cfg.layer_norm_epsilon as f32,
        })
    }

    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if KERNELS_BY_DEFAULT {
            return kernels::rms_norm(xs, &self.weight, self.eps);
        }
        Ok(candle_nn::ops::rms_norm(xs, &self.weight, self.eps)?)
    }
}

/// Maps a signed distance `key - query` to a bucket, exactly as transformers'
/// `T5Attention._relative_position_bucket` does (f32 logarithm, truncation, clamp).
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> u32 {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let distance = if bidirectional {
        num_buckets /= 2;
        if relative_position > 0 {
            bucket += num_buckets;
        }
        relative_position.abs()
    } else {
        (-relative_position).max(0)
    };
    let max_exact = num_buckets / 2;
    if distance < max_exact {
        return (bucket + distance) as u32;
    }
    let log_ratio = (distance as f32 / max_exact as f32).ln();
    let log_range = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
    let large = max_exact + (log_ratio / log_range * (num_buckets - max_exact) as f32) as i64;
    (bucket + large.min(num_buckets - 1)) as u32
}

/// Products of one input into `parts` outputs of `heads × d_kv` values each (q, k and v of a
/// self-attention; the keys and values of every decoder block over the encoder output),
/// returned as heads `[b, h, s, d_kv]`: stacked into one product where the weights allow
/// ([`Linear::stack`]: one pass over the input, one quantization of it, one split over
/// threads), else one product each.
enum Projections {
    Stacked { layer: Linear, parts: usize },
    Each(Vec<Linear>),
}

impl Projections {
    /// Takes the layers; stacked, they are dropped as soon as the stack is made.
    fn new(layers: Vec<Linear>) -> Self {
        if layers.len() > 1 {
            if let Some(layer) = Linear::stack(&layers.iter().collect::<Vec<_>>()) {
                let parts = layers.len();
                return Projections::Stacked { layer, parts };
            }
        }
        Projections::Each(layers)
    }

    /// The outputs of `xs` `[b, s, d]`, in the layers' order, each as heads.
    fn heads(&self, xs: &Tensor, heads: usize, d_kv: usize) -> Result<Vec<Tensor>> {
        let (b, s, _) = xs.dims3()?;
        // One part's columns `[b, s, heads · d_kv]` as heads `[b, heads, s, d_kv]`.
        let as_heads = |y: Tensor| -> Result<Tensor> {
            Ok(y.reshape((b, s, heads, d_kv))?
                .transpose(1, 2)?
                .contiguous()?)
        };
        match self {
            Projections::Each(layers) => layers
                .iter()
                .map(|layer| as_heads(layer.forward(xs)?))
                .collect(),
            Projections::Stacked { layer, parts } => {
                let layout = HeadsLayout {
                    seq: s,
                    heads,
                    d_kv,
                };
                if let Some(all) = layer.forward_heads(xs, layout)? {
                    return (0..*parts)
                        .map(|p| Ok(all.get(p)?))
                        .collect::<Result<Vec<_>>>();
                }
                // No kernel (native builds, say): candle's product, each part's columns taken
                // as heads and copied out.
                let y = layer.forward(xs)?;
                let width = heads * d_kv;
                (0..*parts)
                    .map(|p| as_heads(y.narrow(2, p * width, width)?))
                    .collect()
            }
        }
    }
}

/// One attention layer, self or cross (transformers' `T5Attention`; the residual and norm
/// around it, `T5LayerSelfAttention` / `T5LayerCrossAttention`, are in [`Block`]).
struct Attention {
    /// Self-attention: q, k and v of the layer's input. Cross-attention: q alone (the keys and
    /// values over the encoder output are the model's [`T5::cross_kv`]).
    inputs: Projections,
    o: Linear,
    num_heads: usize,
    d_kv: usize,
    /// `[num_buckets, num_heads]`, only in the first block of each stack.
    relative_bias: Option<Tensor>,
}

impl Attention {
    /// Self-attention `name` (q, k, v and o); with `cross`, q and o only.
    fn load(
        w: &mut Weights,
        name: &str,
        with_bias: bool,
        cross: bool,
        cfg: &T5Config,
    ) -> Result<Self> {
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        let relative_bias = if with_bias {
            Some(w.tensor(
                &format!("{name}.relative_attention_bias.weight"),
                &[cfg.relative_attention_num_buckets, cfg.num_heads],
            )?)
        } else {
            None
        };
        // Taken out of `w`, so that a stack of them does not hold the weights twice.
        let names: &[&str] = if cross { &["q"] } else { &["q", "k", "v"] };
        let inputs = names
            .iter()
            .map(|p| layers::take_linear(w, &format!("{name}.{p}"), inner, d))
            .collect::<Result<Vec<_>>>()?;
        Ok(Attention {
            inputs: Projections::new(inputs),
            o: layers::linear(w, &format!("{name}.o"), d, inner)?,
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            relative_bias,
        })
    }

    /// Projects `[b, s, d]` to q, k and v heads `[b, h, s, d_kv]` (self-attention).
    fn qkv(&self, xs: &Tensor) -> Result<(Tensor, Tensor, Tensor)> {
        match <[Tensor; 3]>::try_from(self.inputs.heads(xs, self.num_heads, self.d_kv)?) {
            Ok([q, k, v]) => Ok((q, k, v)),
            Err(_) => Err(candle_core::Error::Msg("self-attention has q, k and v".into()).into()),
        }
    }

    /// Projects `[b, s, d]` to query heads `[b, h, s, d_kv]` (cross-attention).
    fn q(&self, xs: &Tensor) -> Result<Tensor> {
        let mut heads = self.inputs.heads(xs, self.num_heads, self.d_kv)?;
        match heads.len() {
            1 => Ok(heads.remove(0)),
            _ => Err(candle_core::Error::Msg("cross-attention has q alone".into()).into()),
        }
    }

    /// Scaled-free dot-product attention (T5 folds the scale into its weights), then `o`.
    fn attend(&self, q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        self.o.forward(&self.context(q, k, v, bias)?)
    }

    /// The attention's context `[b, sq, h · d_kv]`, before the output projection.
    fn context(&self, q: &Tensor, k: &Tensor, v: &Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
        if KERNELS_BY_DEFAULT {
            return kernels::attention(q, k, v, bias);
        }
        let (b, h, sq, dk) = q.dims4()?;
        // Keys and values of batch 1 (the encoder output) serve every hypothesis.
        let mut scores = q.broadcast_matmul(&k.t()?)?;
        if let Some(bias) = bias {
            scores = scores.broadcast_add(bias)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.broadcast_matmul(v)?;
        Ok(ctx.transpose(1, 2)?.reshape((b, sq, h * dk))?)
    }
}

/// Position bias `[1, h, q_len, k_len]` for queries at `q_start..q_start + q_len`; with `causal`,
/// keys after each query are masked out.
fn position_bias(
    table: &Tensor,
    cfg: &T5Config,
    q_start: usize,
    q_len: usize,
    k_len: usize,
    bidirectional: bool,
    causal: bool,
) -> Result<Tensor> {
    let heads = cfg.num_heads;
    // The bias depends on `key - query` alone: each distance's bucket is looked up once
    // (`q_len + k_len - 1` of them, not `q_len * k_len`), and row `i` of a head is then the
    // run of that head's values from distance `-(q_start + i)` on.
    let device = table.device().clone();
    let table = table.to_dtype(candle_core::DType::F32)?.to_vec2::<f32>()?;
    let nearest = -((q_start + q_len - 1) as i64);
    let distances = q_len + k_len - 1;
    let mut by_distance = vec![0f32; heads * distances];
    for (d, rel) in (nearest..nearest + distances as i64).enumerate() {
        let bucket = relative_position_bucket(
            rel,
            bidirectional,
            cfg.relative_attention_num_buckets,
            cfg.relative_attention_max_distance,
        ) as usize;
        for (h, v) in table[bucket].iter().take(heads).enumerate() {
            by_distance[h * distances + d] = *v;
        }
    }
    let mask = causal && q_len > 1;
    let mut bias = vec![0f32; heads * q_len * k_len];
    for (h, head) in bias.chunks_exact_mut(q_len * k_len).enumerate() {
        let values = &by_distance[h * distances..(h + 1) * distances];
        for (i, row) in head.chunks_exact_mut(k_len).enumerate() {
            // Distance `j - (q_start + i)` sits at `j + (q_len - 1 - i)`.
            let from = q_len - 1 - i;
            row.copy_from_slice(&values[from..from + k_len]);
            if mask {
                // Causal: the keys after query `q_start + i` are masked out.
                for v in row.iter_mut().skip(q_start + i + 1) {
                    *v = f32::NEG_INFINITY;
                }
            }
        }
    }
    Ok(Tensor::from_vec(bias, (1, heads, q_len, k_len), &device)?)
}

/// The feed-forward layer: relu (`T5DenseActDense`) or gated (`T5DenseGatedActDense`), inside
/// transformers' `T5LayerFF`.
enum FeedForward {
    Plain {
        wi: Linear,
        wo: Linear,
    },
    Gated {
        wi_0: Linear,
        wi_1: Linear,
        wo: Linear,
    },
}

impl FeedForward {
    fn load(w: &Weights, name: &str, cfg: &T5Config) -> Result<Self> {
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let wo = layers::linear(w, &format!("{name}.wo"), d, ff)?;
        Ok(if cfg.gated {
            FeedForward::Gated {
                wi_0: layers::linear(w, &format!("{name}.wi_0"), ff, d)?,
                wi_1: layers::linear(w, &format!("{name}.wi_1"), ff, d)?,
                wo,
            }
        } else {
            FeedForward::Plain {
                wi: layers::linear(w, &format!("{name}.wi"), ff, d)?,
                wo,
            }
        })
    }

    fn forward(&self, xs: &Tensor, act: Activation) -> Result<Tensor> {
        let activate = |t: Tensor| -> candle_core::Result<Tensor> {
            match act {
                Activation::Relu => t.relu(),
                Activation::GeluNew => t.gelu(),
                Activation::Gelu => t.gelu_erf(),
                Activation::Silu => t.silu(),
            }
        };
        Ok(match self {
            FeedForward::Plain { wi, wo } if act == Activation::Relu => {
                wo.forward(&wi.forward_relu(xs)?)?
            }
            FeedForward::Plain { wi, wo } => wo.forward(&activate(wi.forward(xs)?)?)?,
            FeedForward::Gated { wi_0, wi_1, wo } => {
                let gate = activate(wi_0.forward(xs)?)?;
                wo.forward(&(gate * wi_1.forward(xs)?)?)?
            }
        })
    }
}

/// One encoder or decoder block (transformers' `T5Block`): self-attention, cross-attention in
/// the decoder, feed-forward, each with its pre-norm and residual.
struct Block {
    self_norm: RmsNorm,
    self_attn: Attention,
    /// Decoder only: layer norm and attention over the encoder output.
    cross: Option<(RmsNorm, Attention)>,
    ff_norm: RmsNorm,
    ff: FeedForward,
}

impl Block {
    fn load(w: &mut Weights, stack: &str, i: usize, decoder: bool, cfg: &T5Config) -> Result<Self> {
        let p = format!("{stack}.block.{i}.layer");
        let cross = if decoder {
            Some((
                RmsNorm::load(w, &format!("{p}.1.layer_norm"), cfg)?,
                Attention::load(w, &format!("{p}.1.EncDecAttention"), false, true, cfg)?,
            ))
        } else {
            None
        };
        let ff_layer = if decoder { 2 } else { 1 };
        Ok(Block {
            self_norm: RmsNorm::load(w, &format!("{p}.0.layer_norm"), cfg)?,
            self_attn: Attention::load(w, &format!("{p}.0.SelfAttention"), i == 0, false, cfg)?,
            cross,
            ff_norm: RmsNorm::load(w, &format!("{p}.{ff_layer}.layer_norm"), cfg)?,
            ff: FeedForward::load(w, &format!("{p}.{ff_layer}.DenseReluDense"), cfg)?,
        })
    }
}

/// The encoder or the decoder: its blocks and final norm (transformers' `T5Stack`).
struct Stack {
    blocks: Vec<Block>,
    final_norm: RmsNorm,
}

impl Stack {
    fn load(
        w: &mut Weights,
        name: &str,
        layers: usize,
        decoder: bool,
        cfg: &T5Config,
    ) -> Result<Self> {
        let blocks = (0..layers)
            .map(|i| Block::load(w, name, i, decoder, cfg))
            .collect::<Result<Vec<_>>>()?;
        Ok(Stack {
            blocks,
            final_norm: RmsNorm::load(w, &format!("{name}.final_layer_norm"), cfg)?,
        })
    }

    fn bias_table(&self) -> &Tensor {
        // Block 0 always loads with a bias table (see `Block::load`).
        self.blocks[0]
            .self_attn
            .relative_bias
            .as_ref()
            .expect("block 0 has a relative attention bias")
    }
}

/// Keys and values kept between decoder steps (transformers' `past_key_values`, an
/// `EncoderDecoderCache`).
pub struct DecoderCache {
    /// Per decoder block: self-attention K and V `[b, h, steps, d_kv]`.
    self_kv: Vec<Option<(Tensor, Tensor)>>,
    /// Per decoder block: cross-attention K and V over the encoder output, computed once; of
    /// batch 1 when every hypothesis reads the same input (beams share it instead of copying it).
    cross_kv: Vec<(Tensor, Tensor)>,
    /// Hypotheses: the rows each step feeds, and of the self-attention K and V.
    rows: usize,
    /// Decoder positions already consumed.
    len: usize,
}

impl DecoderCache {
    /// Decoder positions consumed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no decoder step has run yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hypotheses the next step feeds.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Keeps the hypotheses at `indices` (in that order, repeats allowed), for beam search.
    ///
    /// Cross-attention K and V of batch 1 stay as they are: that is right only because every
    /// hypothesis then reads the same encoder output, which [`T5::start_decoder`] guarantees
    /// (batch 1 only from an encoder output of batch 1). Per-hypothesis K and V (batch = rows)
    /// move with their hypotheses. Anything else is refused, not guessed.
    pub fn reorder(&mut self, indices: &[u32]) -> Result<()> {
        let fail = |m: String| -> Result<()> { Err(candle_core::Error::Msg(m).into()) };
        if let Some(&bad) = indices.iter().find(|&&i| i as usize >= self.rows) {
            return fail(format!(
                "reorder: hypothesis {bad} of {} does not exist",
                self.rows
            ));
        }
        let Some((first, _)) = self.cross_kv.first() else {
            self.rows = indices.len();
            return Ok(());
        };
        let cross_rows = first.dim(0)?;
        if cross_rows != 1 && cross_rows != self.rows {
            return fail(format!(
                "reorder: cross-attention keys of batch {cross_rows} for {} hypotheses",
                self.rows
            ));
        }
        let idx = Tensor::new(indices, first.device())?;
        for kv in self.self_kv.iter_mut().flatten() {
            *kv = (kv.0.index_select(&idx, 0)?, kv.1.index_select(&idx, 0)?);
        }
        // Batch 1 serves any number of hypotheses; per-hypothesis K and V follow their beams.
        if cross_rows != 1 {
            for kv in self.cross_kv.iter_mut() {
                *kv = (kv.0.index_select(&idx, 0)?, kv.1.index_select(&idx, 0)?);
            }
        }
        self.rows = indices.len();
        Ok(())
    }
}

/// A loaded T5 encoder-decoder with its LM head (transformers' `T5ForConditionalGeneration`).
pub struct T5 {
    cfg: T5Config,
    shared: Embedding,
    encoder: Stack,
    decoder: Stack,
    lm_head: Linear,
    /// The cross-attention keys and values of every decoder block (k, v of block 0, k, v of
    /// block 1, ...): products of the same encoder output, run once per input.
    cross_kv: Projections,
    /// `d_model^-0.5` for original t5 checkpoints.
    output_scale: Option<f64>,
    device: Device,
}

impl T5 {
    /// Builds the model from checkpoint weights named as in Hugging Face T5 checkpoints.
    /// While `weights` is kept, the stacked products ([`Projections`]) hold their weights a
    /// second time: [`Self::from_weights`] does not.
    pub fn load(weights: &Weights, cfg: &T5Config, device: &Device) -> Result<Self> {
        Self::from_weights(weights.clone(), cfg, device)
    }

    /// [`Self::load`], consuming the weights: each is held once, by the model.
    pub fn from_weights(mut weights: Weights, cfg: &T5Config, device: &Device) -> Result<Self> {
        let weights = &mut weights;
        let embedding = [
            "shared.weight",
            "encoder.embed_tokens.weight",
            "decoder.embed_tokens.weight",
        ]
        .into_iter()
        .find(|name| weights.contains(name))
        .unwrap_or("shared.weight");
        let shared = Embedding::load(weights, embedding, cfg.vocab_size, cfg.d_model)?;
        let encoder = Stack::load(weights, "encoder", cfg.num_layers, false, cfg)?;
        let decoder = Stack::load(weights, "decoder", cfg.num_decoder_layers, true, cfg)?;
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        let mut cross_kv = Vec::with_capacity(2 * cfg.num_decoder_layers);
        for i in 0..cfg.num_decoder_layers {
            for p in ["k", "v"] {
                let name = format!("decoder.block.{i}.layer.1.EncDecAttention.{p}");
                cross_kv.push(layers::take_linear(weights, &name, inner, d)?);
            }
        }
        let cross_kv = Projections::new(cross_kv);
        // As transformers does: with `tie_word_embeddings` the LM head is the embedding, even
        // where the checkpoint also holds an `lm_head.weight` (transformers ignores it); without,
        // the checkpoint must have its own. A quantized embedding stays quantized as the tied head.
        let lm_head = if cfg.tie_word_embeddings {
            let base = embedding.strip_suffix(".weight").unwrap_or(embedding);
            layers::linear(weights, base, cfg.vocab_size, cfg.d_model)?
        } else {
            layers::linear(weights, "lm_head", cfg.vocab_size, cfg.d_model)?
        };
        let output_scale = cfg
            .scale_decoder_outputs
            .then(|| (cfg.d_model as f64).powf(-0.5));
        Ok(T5 {
            cfg: cfg.clone(),
            shared,
            encoder,
            decoder,
            lm_head,
            cross_kv,
            output_scale,
            device: device.clone(),
        })
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &T5Config {
        &self.cfg
    }

    /// The device tensors live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        Ok(self.shared.lookup(ids)?.reshape((b, s, self.cfg.d_model))?)
    }

    /// Runs the encoder on `input_ids` `[b, s]` (no padding), returning `[b, s, d_model]`.
    pub fn encode(&self, input_ids: &Tensor) -> Result<Tensor> {
        let s = input_ids.dim(1)?;
        let (mut xs, bias) = profile::stage("encoder.embed", || -> Result<_> {
            let xs = self.embed(input_ids)?;
            let bias = position_bias(self.encoder.bias_table(), &self.cfg, 0, s, s, true, false)?;
            Ok((xs, bias))
        })?;
        for block in &self.encoder.blocks {
            // Nested stages say how much of a sublayer its products take.
            xs = profile::stage("encoder.attention", || -> Result<_> {
                let h = profile::stage("encoder.attention.norm", || block.self_norm.forward(&xs))?;
                let attn = &block.self_attn;
                let (q, k, v) = profile::stage("encoder.attention.qkv", || attn.qkv(&h))?;
                let ctx = profile::stage("encoder.attention.scores_values", || {
                    attn.context(&q, &k, &v, Some(&bias))
                })?;
                let out = profile::stage("encoder.attention.o", || attn.o.forward(&ctx))?;
                profile::stage("encoder.attention.residual", || Ok((&xs + out)?))
            })?;
            xs = profile::stage("encoder.feed_forward", || -> Result<_> {
                let h = profile::stage("encoder.feed_forward.norm", || block.ff_norm.forward(&xs))?;
                let out = profile::stage("encoder.feed_forward.products", || {
                    block.ff.forward(&h, self.cfg.activation)
                })?;
                profile::stage("encoder.feed_forward.residual", || Ok((&xs + out)?))
            })?;
        }
        profile::stage("encoder.final_norm", || {
            self.encoder.final_norm.forward(&xs)
        })
    }

    /// Prepares decoding against `encoder_output` `[1 or b, s, d]` for `batch` hypotheses. An
    /// output of batch 1 is shared by all of them (its keys and values are computed and kept
    /// once); one of batch `b` must match `batch`.
    pub fn start_decoder(&self, encoder_output: &Tensor, batch: usize) -> Result<DecoderCache> {
        let enc_batch = encoder_output.dim(0)?;
        if enc_batch != 1 && enc_batch != batch {
            return Err(candle_core::Error::Msg(format!(
                "start_decoder: encoder output of batch {enc_batch} for {batch} hypotheses"
            ))
            .into());
        }
        let cross_kv = profile::stage("decoder.cross_kv", || -> Result<_> {
            let (heads, d_kv) = (self.cfg.num_heads, self.cfg.d_kv);
            let mut kv = self
                .cross_kv
                .heads(encoder_output, heads, d_kv)?
                .into_iter();
            let mut pairs = Vec::with_capacity(self.decoder.blocks.len());
            while let (Some(k), Some(v)) = (kv.next(), kv.next()) {
                pairs.push((k, v));
            }
            Ok(pairs)
        })?;
        Ok(DecoderCache {
            self_kv: vec![None; self.decoder.blocks.len()],
            cross_kv,
            rows: batch,
            len: 0,
        })
    }

    /// Feeds decoder tokens `[b, t]` after the cached ones and returns logits `[b, t, vocab]`.
    /// With an empty cache and all tokens at once this is the teacher-forced (no cache) pass.
    pub fn decode(&self, cache: &mut DecoderCache, tokens: &Tensor) -> Result<Tensor> {
        let (b, t) = tokens.dims2()?;
        if b != cache.rows {
            return Err(candle_core::Error::Msg(format!(
                "decode: {b} token rows for {} hypotheses",
                cache.rows
            ))
            .into());
        }
        let start = cache.len;
        let (mut xs, bias) = profile::stage("decoder.embed", || -> Result<_> {
            let xs = self.embed(tokens)?;
            let bias = position_bias(
                self.decoder.bias_table(),
                &self.cfg,
                start,
                t,
                start + t,
                false,
                true,
            )?;
            Ok((xs, bias))
        })?;
        for (i, block) in self.decoder.blocks.iter().enumerate() {
            xs = profile::stage("decoder.self_attention", || -> Result<_> {
                let h = block.self_norm.forward(&xs)?;
                let attn = &block.self_attn;
                let (q, mut k, mut v) = attn.qkv(&h)?;
                if let Some((pk, pv)) = &cache.self_kv[i] {
                    k = Tensor::cat(&[pk, &k], 2)?;
                    v = Tensor::cat(&[pv, &v], 2)?;
                }
                let out = (&xs + attn.attend(&q, &k, &v, Some(&bias))?)?;
                cache.self_kv[i] = Some((k, v));
                Ok(out)
            })?;
            xs = profile::stage("decoder.cross_attention", || -> Result<_> {
                let (norm, cross) = block
                    .cross
                    .as_ref()
                    .expect("decoder blocks have cross attention");
                let h = norm.forward(&xs)?;
                let q = cross.q(&h)?;
                let (ck, cv) = &cache.cross_kv[i];
                Ok((&xs + cross.attend(&q, ck, cv, None)?)?)
            })?;
            xs = profile::stage("decoder.feed_forward", || -> Result<_> {
                let h = block.ff_norm.forward(&xs)?;
                Ok((&xs + block.ff.forward(&h, self.cfg.activation)?)?)
            })?;
        }
        cache.len += t;
        profile::stage("decoder.lm_head", || {
            let mut xs = self.decoder.final_norm.forward(&xs)?;
            if let Some(scale) = self.output_scale {
                xs = (xs * scale)?;
            }
            self.lm_head.forward(&xs)
        })
    }

    /// Logits of the last position of `decode`, one row per hypothesis.
    pub fn step(&self, cache: &mut DecoderCache, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
        let ids = Tensor::from_slice(tokens, (tokens.len(), 1), &self.device)?;
        let logits = self.decode(cache, &ids)?;
        profile::stage("decoder.logits_out", || {
            Ok(logits
                .squeeze(1)?
                .to_dtype(candle_core::DType::F32)?
                .to_vec2()?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::relative_position_bucket as bucket;
    use super::{position_bias, T5Config};
    use candle_core::{Device, Tensor};

    /// The bias as the definition reads: a bucket per (query, key), a table row per bucket.
    fn bias_by_definition(
        table: &[Vec<f32>],
        q_start: usize,
        q_len: usize,
        k_len: usize,
        bidirectional: bool,
        causal: bool,
    ) -> Vec<f32> {
        let heads = table[0].len();
        let mut out = vec![0f32; heads * q_len * k_len];
        for h in 0..heads {
            for i in 0..q_len {
                for j in 0..k_len {
                    let rel = j as i64 - (q_start + i) as i64;
                    let masked = causal && q_len > 1 && j > q_start + i;
                    out[(h * q_len + i) * k_len + j] = if masked {
                        f32::NEG_INFINITY
                    } else {
                        table[bucket(rel, bidirectional, 32, 128) as usize][h]
                    };
                }
            }
        }
        out
    }

    #[test]
    fn position_bias_matches_its_definition() {
        let cfg = T5Config::from_json(
            br#"{"vocab_size":10,"d_model":8,"d_kv":4,"d_ff":16,"num_layers":1,"num_heads":3}"#,
        )
        .unwrap();
        let table: Vec<Vec<f32>> = (0..32)
            .map(|b| (0..3).map(|h| (b * 3 + h) as f32 * 0.25 - 7.0).collect())
            .collect();
        let t = Tensor::new(table.clone(), &Device::Cpu).unwrap();
        // Encoder (square, both directions), decoder with and without a causal mask, a step.
        for (q_start, q_len, k_len, bidirectional, causal) in [
            (0, 300, 300, true, false),
            (0, 7, 7, false, true),
            (5, 4, 9, false, true),
            (8, 1, 9, false, true),
            (0, 3, 200, false, false),
        ] {
            let got = position_bias(&t, &cfg, q_start, q_len, k_len, bidirectional, causal)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let want = bias_by_definition(&table, q_start, q_len, k_len, bidirectional, causal);
            assert_eq!(got, want, "q_start {q_start}, {q_len} × {k_len}");
        }
    }

    #[test]
    fn encoder_buckets_are_bidirectional() {
        // 32 buckets, max distance 128: 16 per direction, exact up to 8.
        assert_eq!(bucket(0, true, 32, 128), 0);
        assert_eq!(bucket(-3, true, 32, 128), 3);
        assert_eq!(bucket(3, true, 32, 128), 19);
        assert_eq!(bucket(-1000, true, 32, 128), 15);
        assert_eq!(bucket(1000, true, 32, 128), 31);
    }

    #[test]
    fn decoder_buckets_are_unidirectional_with_clamp() {
        // 32 buckets for the past only, exact up to 16; future keys share bucket 0.
        assert_eq!(bucket(5, false, 32, 128), 0);
        assert_eq!(bucket(-9, false, 32, 128), 9);
        assert_eq!(bucket(-15, false, 32, 128), 15);
        assert!(bucket(-16, false, 32, 128) >= 16);
        assert_eq!(bucket(-5000, false, 32, 128), 31);
    }
}
