//! Logits processors: small rules that edit next-token scores before a token is chosen.

use super::GenerationConfig;

/// Bans every end token while fewer than `min_new_tokens` tokens have been generated
/// (transformers' `MinNewTokensLengthLogitsProcessor`).
pub fn apply_min_length(logits: &mut [f32], generated: usize, cfg: &GenerationConfig) {
    if generated < cfg.min_new_tokens {
        for &eos in &cfg.eos_token_ids {
            if let Some(score) = logits.get_mut(eos as usize) {
                *score = f32::NEG_INFINITY;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_first_of_ties() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
    }

    #[test]
    fn min_length_bans_eos_until_reached() {
        let cfg = GenerationConfig {
            max_new_tokens: 10,
            min_new_tokens: 2,
            decoder_start_token_id: 0,
            eos_token_ids: vec![1],
        };
        let mut l = vec![0.0, 5.0, 1.0];
        apply_min_length(&mut l, 1, &cfg);
        assert_eq!(l[1], f32::NEG_INFINITY);
        let mut l = vec![0.0, 5.0, 1.0];
        apply_min_length(&mut l, 2, &cfg);
        assert_eq!(l[1], 5.0);
    }
}
