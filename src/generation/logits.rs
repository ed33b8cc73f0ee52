//! Logits processors: small rules that edit next-token scores before a token is chosen, each
//! matching the transformers processor of the same name, applied in transformers' order.

use std::collections::HashSet;

use super::GenerationConfig;
use crate::rng::Rng;

/// Applies every processor `cfg` asks for to the scores of one hypothesis whose decoder sequence
/// (start token included) is `sequence`: repetition penalty, no-repeat n-grams, minimum length.
pub fn process(scores: &mut [f32], sequence: &[u32], cfg: &GenerationConfig) {
    if cfg.repetition_penalty != 1.0 {
        repetition_penalty(scores, sequence, cfg.repetition_penalty);
    }
    if cfg.no_repeat_ngram_size > 0 {
        no_repeat_ngram(scores, sequence, cfg.no_repeat_ngram_size);
    }
    // `sequence` starts with the decoder start token, so it holds `len - 1` generated tokens.
    apply_min_length(scores, sequence.len() - 1, cfg);
}

/// `RepetitionPenaltyLogitsProcessor`: each distinct token of `sequence` has its score divided by
/// `penalty` when positive, multiplied when negative.
pub fn repetition_penalty(scores: &mut [f32], sequence: &[u32], penalty: f32) {
    let mut seen = HashSet::with_capacity(sequence.len());
    for &t in sequence {
        if !seen.insert(t) {
            continue;
        }
        if let Some(s) = scores.get_mut(t as usize) {
            *s = if *s < 0.0 { *s * penalty } else { *s / penalty };
        }
    }
}

/// `NoRepeatNGramLogitsProcessor`: bans every token that would complete an n-gram of size `n`
/// already present in `sequence`.
pub fn no_repeat_ngram(scores: &mut [f32], sequence: &[u32], n: usize) {
    let len = sequence.len();
    if len + 1 < n {
        return;
    }
    let tail = &sequence[len + 1 - n..];
    for window in sequence.windows(n) {
        if window[..n - 1] == *tail {
            if let Some(s) = scores.get_mut(window[n - 1] as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
}

/// Bans every end token while fewer than `min_new_tokens` tokens have been generated
/// (`MinLengthLogitsProcessor` / `MinNewTokensLengthLogitsProcessor`).
pub fn apply_min_length(logits: &mut [f32], generated: usize, cfg: &GenerationConfig) {
    if generated < cfg.min_new_tokens {
        for &eos in &cfg.eos_token_ids {
            if let Some(score) = logits.get_mut(eos as usize) {
                *score = f32::NEG_INFINITY;
            }
        }
    }
}

/// `log_softmax` in f32, computed as torch does: `x - max - ln(sum(exp(x - max)))` (the sum in
/// SIMD128 lanes in wasm: a beam step takes it over every beam's whole vocabulary).
pub fn log_softmax(scores: &mut [f32]) {
    let (max, sum) = crate::kernels::max_and_sum_exp(scores);
    let log_sum = sum.ln();
    for x in scores.iter_mut() {
        *x = *x - max - log_sum;
    }
}

/// Index of the largest score; the first one wins ties, as `torch.argmax` does.
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// The sampling warpers in transformers' order: temperature, top-k, top-p. Removed tokens get
/// `-inf`.
pub fn warp(scores: &mut [f32], cfg: &GenerationConfig) {
    if cfg.temperature != 1.0 {
        for s in scores.iter_mut() {
            *s /= cfg.temperature;
        }
    }
    if cfg.top_k > 0 && cfg.top_k < scores.len() {
        // `TopKLogitsWarper`: everything below the k-th largest score goes (ties with it stay).
        let mut sorted: Vec<f32> = scores.to_vec();
        sorted.sort_unstable_by(|a, b| b.total_cmp(a));
        let kth = sorted[cfg.top_k - 1];
        for s in scores.iter_mut() {
            if *s < kth {
                *s = f32::NEG_INFINITY;
            }
        }
    }
    if cfg.top_p < 1.0 {
        // `TopPLogitsWarper`: sorted ascending, drop tokens while the cumulative probability of
        // the dropped ones stays within `1 - top_p`; the most likely token always stays.
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
        let mut probs: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
        softmax(&mut probs);
        let mut cumulative = 0.0f32;
        let last = order.len() - 1;
        for (rank, &i) in order.iter().enumerate() {
            cumulative += probs[rank];
            if cumulative <= 1.0 - cfg.top_p && rank < last {
                scores[i] = f32::NEG_INFINITY;
            }
        }
    }
}

/// Softmax in place.
pub fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

/// Draws a token from warped scores (softmax, then inverse CDF).
pub fn sample(scores: &[f32], rng: &mut Rng) -> u32 {
    let mut probs = scores.to_vec();
    softmax(&mut probs);
    let u = rng.next_f64();
    let mut cumulative = 0.0f64;
    let mut last_possible = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            last_possible = i;
            cumulative += p as f64;
            if u < cumulative {
                return i as u32;
            }
        }
    }
    last_possible as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(min: usize) -> GenerationConfig {
        let mut c = GenerationConfig::new(0, vec![1], 10);
        c.min_new_tokens = min;
        c.top_k = 0;
        c
    }

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn min_length_bans_eos_until_reached() {
        let mut l = vec![0.0, 5.0, 1.0];
        apply_min_length(&mut l, 1, &cfg(2));
        assert_eq!(l[1], f32::NEG_INFINITY);
        let mut l = vec![0.0, 5.0, 1.0];
        apply_min_length(&mut l, 2, &cfg(2));
        assert_eq!(l[1], 5.0);
    }

    #[test]
    fn repetition_penalty_once_per_distinct_token() {
        let mut s = vec![2.0, -2.0, 4.0, 1.0];
        repetition_penalty(&mut s, &[0, 1, 1, 2, 2, 2], 2.0);
        assert_eq!(s, vec![1.0, -4.0, 2.0, 1.0]);
    }

    #[test]
    fn no_repeat_ngram_bans_completions() {
        // Bigrams seen: (0,5) (5,6) (6,5); the sequence ends in 5, so 6 is banned.
        let mut s = vec![0.0; 8];
        no_repeat_ngram(&mut s, &[0, 5, 6, 5], 2);
        assert_eq!(s[6], f32::NEG_INFINITY);
        assert_eq!(s.iter().filter(|v| v.is_infinite()).count(), 1);
        // Too short for a trigram to repeat.
        let mut s = vec![0.0; 8];
        no_repeat_ngram(&mut s, &[0], 3);
        assert!(s.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn log_softmax_normalizes() {
        let mut s = vec![1.0, 2.0, 3.0];
        log_softmax(&mut s);
        let total: f32 = s.iter().map(|v| v.exp()).sum();
        assert!((total - 1.0).abs() < 1e-6);
        assert!(s[2] > s[1] && s[1] > s[0]);
    }

    #[test]
    fn warpers_keep_the_likely_tokens() {
        let mut c = cfg(0);
        c.top_k = 2;
        let mut s = vec![1.0, 4.0, 3.0, 2.0];
        warp(&mut s, &c);
        assert_eq!(s, vec![f32::NEG_INFINITY, 4.0, 3.0, f32::NEG_INFINITY]);
        let mut c = cfg(0);
        c.top_p = 0.5;
        let mut s = vec![0.0, 10.0, 0.0, 0.0];
        warp(&mut s, &c);
        assert_eq!(s.iter().filter(|v| v.is_finite()).count(), 1);
        assert_eq!(s[1], 10.0);
    }

    #[test]
    fn sampling_is_seeded() {
        let scores = vec![0.5, 0.2, 0.9, 0.1, 0.3];
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..32)
                .map(|_| sample(&scores, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // Removed tokens are never drawn.
        let mut rng = Rng::new(1);
        let banned = vec![f32::NEG_INFINITY, 0.0, f32::NEG_INFINITY];
        assert!((0..100).all(|_| sample(&banned, &mut rng) == 1));
    }
}
