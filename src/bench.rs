//! The speed benchmark's core, shared by the native `bench` binary and the browser bench build
//! (`--features bench`): load a system from a weights file, then time encoding and forced
//! single-token decoding at several input lengths.
//!
//! Systems: our T5 (any weights file) and, as the baseline, the stock candle-transformers T5
//! (f32 safetensors, loaded the way candle's own examples do) and its quantized T5 (GGUF).

use candle_core::{DType, Device, Tensor};
use candle_transformers::models::{quantized_t5, t5 as stock};

use crate::generation::logits::argmax;
use crate::model::{ByteSource, DecoderCache, T5Config, Weights, T5};

/// The systems a run can measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    /// candle-transformers `t5::T5ForConditionalGeneration` from f32 safetensors.
    StockF32,
    /// candle-transformers `quantized_t5::T5ForConditionalGeneration` from GGUF.
    StockQuantized,
    /// Ours, from safetensors or GGUF.
    Ours,
}

impl System {
    /// Parses `stock-f32`, `stock-quantized` or `ours`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "stock-f32" => Ok(System::StockF32),
            "stock-quantized" => Ok(System::StockQuantized),
            "ours" => Ok(System::Ours),
            other => Err(format!(
                "unknown system '{other}' (stock-f32, stock-quantized or ours)"
            )),
        }
    }
}

/// Median, min and max of some measurements (ms).
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Stat {
    /// Of `xs` (at least one).
    pub fn of(mut xs: Vec<f64>) -> Stat {
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n % 2 == 1 {
            xs[n / 2]
        } else {
            (xs[n / 2 - 1] + xs[n / 2]) / 2.0
        };
        Stat {
            median,
            min: xs[0],
            max: xs[n - 1],
        }
    }

    /// Half the min–max range as a percentage of the median.
    pub fn spread_percent(&self) -> f64 {
        (self.max - self.min) / 2.0 / self.median * 100.0
    }
}

/// The figures at one input length.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AtLength {
    pub tokens: usize,
    pub encode_ms: Stat,
    pub decode_ms_per_token: Stat,
}

/// A model under test: encode once, then decode forced tokens one at a time.
pub trait Runner {
    fn encode(&mut self, ids: &[u32]) -> candle_core::Result<()>;
    fn step(&mut self, token: u32) -> candle_core::Result<Vec<f32>>;
}

struct Ours {
    model: T5,
    cache: Option<DecoderCache>,
}

impl Runner for Ours {
    fn encode(&mut self, ids: &[u32]) -> candle_core::Result<()> {
        let x = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
        let enc = self.model.encode(&x).map_err(candle_core::Error::wrap)?;
        self.cache = Some(
            self.model
                .start_decoder(&enc, 1)
                .map_err(candle_core::Error::wrap)?,
        );
        Ok(())
    }

    fn step(&mut self, token: u32) -> candle_core::Result<Vec<f32>> {
        let cache = self.cache.as_mut().expect("encode first");
        Ok(self
            .model
            .step(cache, &[token])
            .map_err(candle_core::Error::wrap)?
            .swap_remove(0))
    }
}

/// A stock candle-transformers model (f32 or quantized: the same API) with its encoder output.
struct Stock<M> {
    model: M,
    enc: Option<Tensor>,
}

/// The calls both stock T5 types offer.
trait StockT5 {
    fn clear(&mut self);
    fn encode(&mut self, x: &Tensor) -> candle_core::Result<Tensor>;
    fn decode(&mut self, d: &Tensor, enc: &Tensor) -> candle_core::Result<Tensor>;
}

macro_rules! stock_t5 {
    ($t:ty) => {
        impl StockT5 for $t {
            fn clear(&mut self) {
                self.clear_kv_cache()
            }
            fn encode(&mut self, x: &Tensor) -> candle_core::Result<Tensor> {
                <$t>::encode(self, x)
            }
            fn decode(&mut self, d: &Tensor, enc: &Tensor) -> candle_core::Result<Tensor> {
                <$t>::decode(self, d, enc)
            }
        }
    };
}
stock_t5!(stock::T5ForConditionalGeneration);
stock_t5!(quantized_t5::T5ForConditionalGeneration);

impl<M: StockT5> Runner for Stock<M> {
    fn encode(&mut self, ids: &[u32]) -> candle_core::Result<()> {
        self.model.clear();
        let x = Tensor::from_slice(ids, (1, ids.len()), &Device::Cpu)?;
        self.enc = Some(self.model.encode(&x)?);
        Ok(())
    }

    fn step(&mut self, token: u32) -> candle_core::Result<Vec<f32>> {
        let d = Tensor::from_slice(&[token], (1, 1), &Device::Cpu)?;
        self.model
            .decode(&d, self.enc.as_ref().expect("encode first"))?
            .squeeze(0)?
            .to_vec1()
    }
}

/// Loads `system` from a weights file. The stock systems take the whole file into memory first
/// (as candle's examples do: `VarBuilder::from_buffered_safetensors`, `from_gguf_buffer`); ours
/// reads it tensor by tensor.
pub fn load(
    system: System,
    config_json: &str,
    file: &dyn ByteSource,
) -> Result<Box<dyn Runner>, String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let whole = || {
        let mut bytes = vec![0u8; file.len()];
        file.read_at(0, &mut bytes).map(|()| bytes)
    };
    Ok(match system {
        System::StockF32 => {
            let mut cfg: stock::Config = serde_json::from_str(config_json).map_err(|x| e(&x))?;
            cfg.use_cache = true;
            let vb = candle_nn::VarBuilder::from_buffered_safetensors(
                whole().map_err(|x| e(&x))?,
                DType::F32,
                &Device::Cpu,
            )
            .map_err(|x| e(&x))?;
            let model = stock::T5ForConditionalGeneration::load(vb, &cfg).map_err(|x| e(&x))?;
            Box::new(Stock { model, enc: None })
        }
        System::StockQuantized => {
            let cfg: quantized_t5::Config = serde_json::from_str(config_json).map_err(|x| e(&x))?;
            let vb = quantized_t5::VarBuilder::from_gguf_buffer(
                &whole().map_err(|x| e(&x))?,
                &Device::Cpu,
            )
            .map_err(|x| e(&x))?;
            let model =
                quantized_t5::T5ForConditionalGeneration::load(vb, &cfg).map_err(|x| e(&x))?;
            Box::new(Stock { model, enc: None })
        }
        System::Ours => {
            let cfg = T5Config::from_json(config_json.as_bytes()).map_err(|x| e(&x))?;
            let w = Weights::from_source("model", file, &Device::Cpu).map_err(|x| e(&x))?;
            let model = T5::from_weights(w, &cfg, &Device::Cpu).map_err(|x| e(&x))?;
            Box::new(Ours { model, cache: None })
        }
    })
}

/// The input of `len` tokens every system is given (spread over the vocabulary, end token last).
pub fn input_ids(len: usize, vocab: u32) -> Vec<u32> {
    (0..len as u32 - 1)
        .map(|i| 3 + (i * 7919) % (vocab - 3))
        .chain([1])
        .collect()
}

/// Times `runner` at each input length: one warm-up, then `repeats` runs of encode + `steps`
/// forced decoder steps (the greedy choice, never the end token). `now_ms` is the clock.
pub fn measure(
    runner: &mut dyn Runner,
    lengths: &[usize],
    steps: usize,
    repeats: usize,
    vocab: u32,
    now_ms: &dyn Fn() -> f64,
) -> candle_core::Result<Vec<AtLength>> {
    let mut out = Vec::new();
    for &len in lengths {
        let ids = input_ids(len, vocab);
        let (mut enc, mut dec) = (Vec::new(), Vec::new());
        for rep in 0..=repeats {
            let (e, d) = once(runner, &ids, steps, now_ms)?;
            if rep > 0 {
                enc.push(e);
                dec.push(d);
            }
        }
        out.push(AtLength {
            tokens: len,
            encode_ms: Stat::of(enc),
            decode_ms_per_token: Stat::of(dec),
        });
    }
    Ok(out)
}

/// One measured configuration of [`measure_interleaved`]: a runner, with the kernels on the
/// thread pool or on the calling thread.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub runner: usize,
    pub parallel: bool,
}

/// Like [`measure`] for several configurations (`slots`) at once, interleaved: every
/// repetition runs each slot once, starting one slot later each time, so a machine whose speed
/// drifts over minutes affects them alike and their ratios stay fair. `set_parallel` switches the
/// kernels between the pool and the calling thread ([`crate::kernels::set_parallel`]);
/// they are left parallel. Returns one result per slot.
#[allow(clippy::too_many_arguments)]
pub fn measure_interleaved(
    runners: &mut [Box<dyn Runner>],
    slots: &[Slot],
    lengths: &[usize],
    steps: usize,
    repeats: usize,
    vocab: u32,
    now_ms: &dyn Fn() -> f64,
    set_parallel: &dyn Fn(bool),
) -> candle_core::Result<Vec<Vec<AtLength>>> {
    let mut out: Vec<Vec<AtLength>> = slots.iter().map(|_| Vec::new()).collect();
    for &len in lengths {
        let ids = input_ids(len, vocab);
        let mut runs: Vec<(Vec<f64>, Vec<f64>)> =
            slots.iter().map(|_| Default::default()).collect();
        for rep in 0..=repeats {
            for turn in 0..slots.len() {
                let at = (rep + turn) % slots.len();
                let slot = slots[at];
                set_parallel(slot.parallel);
                let (e, d) = once(runners[slot.runner].as_mut(), &ids, steps, now_ms)?;
                if rep > 0 {
                    runs[at].0.push(e);
                    runs[at].1.push(d);
                }
            }
        }
        set_parallel(true);
        for (slot_out, (enc, dec)) in out.iter_mut().zip(runs) {
            slot_out.push(AtLength {
                tokens: len,
                encode_ms: Stat::of(enc),
                decode_ms_per_token: Stat::of(dec),
            });
        }
    }
    Ok(out)
}

/// One encode of `ids` and `steps` forced decoder steps: (encode ms, decode ms per token).
fn once(
    runner: &mut dyn Runner,
    ids: &[u32],
    steps: usize,
    now_ms: &dyn Fn() -> f64,
) -> candle_core::Result<(f64, f64)> {
    let t = now_ms();
    runner.encode(ids)?;
    let e = now_ms() - t;
    let mut token = 0;
    let t = now_ms();
    for _ in 0..steps {
        let logits = runner.step(token)?;
        token = argmax(&logits).max(2);
    }
    Ok((e, (now_ms() - t) / steps.max(1) as f64))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records which runner encoded, and with which kernel setting.
    struct Probe {
        id: usize,
        log: std::rc::Rc<std::cell::RefCell<Vec<(usize, bool)>>>,
        parallel: std::rc::Rc<std::cell::Cell<bool>>,
    }

    impl Runner for Probe {
        fn encode(&mut self, _: &[u32]) -> candle_core::Result<()> {
            self.log.borrow_mut().push((self.id, self.parallel.get()));
            Ok(())
        }
        fn step(&mut self, _: u32) -> candle_core::Result<Vec<f32>> {
            Ok(vec![0.0, 1.0, 0.5])
        }
    }

    #[test]
    fn interleaved_runs_rotate_through_every_slot() {
        let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let parallel = std::rc::Rc::new(std::cell::Cell::new(true));
        let mut runners: Vec<Box<dyn Runner>> = (0..2)
            .map(|id| {
                Box::new(Probe {
                    id,
                    log: log.clone(),
                    parallel: parallel.clone(),
                }) as Box<dyn Runner>
            })
            .collect();
        let slots =
            [(0, true), (0, false), (1, true)].map(|(runner, parallel)| Slot { runner, parallel });
        let clock = std::cell::Cell::new(0.0);
        let now = || {
            clock.set(clock.get() + 1.0);
            clock.get()
        };
        let out = measure_interleaved(&mut runners, &slots, &[4, 8], 2, 3, 100, &now, &|p| {
            parallel.set(p)
        })
        .unwrap();
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(|per_slot| per_slot.len() == 2));
        // Per length: a warm-up and 3 repetitions of all 3 slots, each starting one slot later.
        let log = log.borrow();
        assert_eq!(log.len(), 2 * 4 * 3);
        let order = [(0, true), (0, false), (1, true)];
        for (rep, round) in log[..12].chunks(3).enumerate() {
            let want: Vec<_> = (0..3).map(|t| order[(rep + t) % 3]).collect();
            assert_eq!(round, &want[..], "repetition {rep}");
        }
        assert!(parallel.get(), "left parallel");
    }

    #[test]
    fn stat_median_and_spread() {
        let s = Stat::of(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert!((s.spread_percent() - 180.0).abs() < 1e-9);
        assert_eq!(
            input_ids(4, 100),
            vec![3, 3 + 7919 % 97, 3 + 2 * 7919 % 97, 1]
        );
    }
}
