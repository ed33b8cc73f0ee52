//! Search strategies over a [`StepDecoder`].

use super::logits::{apply_min_length, argmax};
use super::{GenerationConfig, StepDecoder};
use crate::error::{Error, Result};

/// What a token callback tells the search to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep generating.
    Continue,
    /// Stop now; the search returns [`Error::Cancelled`].
    Stop,
}

/// Greedy search: always the most likely next token. Returns the generated tokens without the
/// start token, ending with the end token when one was produced within `max_new_tokens`.
pub fn greedy(
    decoder: &mut dyn StepDecoder,
    cfg: &GenerationConfig,
    on_token: &mut dyn FnMut(u32) -> Flow,
) -> Result<Vec<u32>> {
    let mut tokens = Vec::with_capacity(cfg.max_new_tokens);
    let mut last = cfg.decoder_start_token_id;
    while tokens.len() < cfg.max_new_tokens {
        let mut logits = decoder.step(&[last])?.swap_remove(0);
        apply_min_length(&mut logits, tokens.len(), cfg);
        last = argmax(&logits);
        tokens.push(last);
        if on_token(last) == Flow::Stop {
            return Err(Error::Cancelled);
        }
        if cfg.is_eos(last) {
            break;
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Prefers token `script[step]`, and always gives the end token (1) a middling score.
    struct Scripted {
        script: Vec<u32>,
        seen: Vec<u32>,
    }

    impl StepDecoder for Scripted {
        fn step(&mut self, tokens: &[u32]) -> Result<Vec<Vec<f32>>> {
            self.seen.push(tokens[0]);
            let mut logits = vec![0.0; 8];
            logits[1] = 0.5;
            if let Some(&t) = self.script.get(self.seen.len() - 1) {
                logits[t as usize] = 1.0;
            }
            Ok(vec![logits])
        }
    }

    fn cfg(max: usize, min: usize) -> GenerationConfig {
        GenerationConfig {
            max_new_tokens: max,
            min_new_tokens: min,
            decoder_start_token_id: 0,
            eos_token_ids: vec![1],
        }
    }

    #[test]
    fn feeds_start_then_previous_token_and_stops_at_eos() {
        let mut d = Scripted {
            script: vec![4, 5, 1, 6],
            seen: vec![],
        };
        let out = greedy(&mut d, &cfg(10, 0), &mut |_| Flow::Continue).unwrap();
        assert_eq!(out, vec![4, 5, 1]);
        assert_eq!(d.seen, vec![0, 4, 5]);
    }

    #[test]
    fn max_and_min_lengths() {
        let mut d = Scripted {
            script: vec![4, 5, 6, 7],
            seen: vec![],
        };
        assert_eq!(
            greedy(&mut d, &cfg(2, 0), &mut |_| Flow::Continue).unwrap(),
            vec![4, 5]
        );
        // The script ends after 1 token, so the end token wins next unless banned.
        let mut d = Scripted {
            script: vec![4],
            seen: vec![],
        };
        let out = greedy(&mut d, &cfg(3, 3), &mut |_| Flow::Continue).unwrap();
        assert_eq!(out.len(), 3);
        assert!(!out.contains(&1));
    }

    #[test]
    fn stop_cancels() {
        let mut d = Scripted {
            script: vec![4, 5, 6],
            seen: vec![],
        };
        let r = greedy(&mut d, &cfg(10, 0), &mut |t| {
            if t == 5 {
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        assert!(matches!(r, Err(Error::Cancelled)));
    }
}
