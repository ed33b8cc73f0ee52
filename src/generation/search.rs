//! Search strategies over a [`StepDecoder`]: greedy, sampling and beam search, each
//! reproducing transformers' `generate()` for the same scores.

use std::cmp::Ordering;

use super::logits::{argmax, log_softmax, process, sample as draw, warp};
use super::{EarlyStopping, GenerationConfig, StepDecoder};
use crate::error::{Error, Result};
use crate::metrics::profile;
use crate::rng::Rng;
use crate::stepwise::{block_on, pause};

/// What a progress callback tells the search to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep generating.
    Continue,
    /// Stop now; the search returns [`Error::Cancelled`].
    Stop,
}

/// Generates with the strategy `cfg` selects. After every decoder step `on_step` receives the
/// current best hypothesis (generated tokens, without the start token): for greedy search and
/// sampling it grows by one token per step; for beam search it is the best running beam and may
/// change. Returns the generated tokens, ending with the end token when one was produced within
/// `max_new_tokens`.
pub fn generate(
    decoder: &mut dyn StepDecoder,
    cfg: &GenerationConfig,
    on_step: &mut dyn FnMut(&[u32]) -> Flow,
) -> Result<Vec<u32>> {
    block_on(generate_stepwise(decoder, cfg, on_step))
}

/// [`generate`], pausing after every step (see [`crate::stepwise`]).
pub async fn generate_stepwise(
    decoder: &mut dyn StepDecoder,
    cfg: &GenerationConfig,
    on_step: &mut dyn FnMut(&[u32]) -> Flow,
) -> Result<Vec<u32>> {
    cfg.validate()?;
    if cfg.num_beams > 1 {
        beam_search(decoder, cfg, on_step).await
    } else {
        greedy_or_sample(decoder, cfg, on_step).await
    }
}

/// Greedy search (the most likely token after the processors), or with `cfg.do_sample` a draw
/// from the processed and warped distribution with a generator seeded by `cfg.seed`.
async fn greedy_or_sample(
    decoder: &mut dyn StepDecoder,
    cfg: &GenerationConfig,
    on_step: &mut dyn FnMut(&[u32]) -> Flow,
) -> Result<Vec<u32>> {
    let mut sequence = Vec::with_capacity(cfg.max_new_tokens + 1);
    sequence.push(cfg.decoder_start_token_id);
    let mut rng = Rng::new(cfg.seed);
    while sequence.len() <= cfg.max_new_tokens {
        let last = *sequence.last().expect("the start token is there");
        let mut scores = decoder.step(&[last])?.swap_remove(0);
        let token = profile::stage("search", || {
            process(&mut scores, &sequence, cfg);
            if cfg.do_sample {
                warp(&mut scores, cfg);
                draw(&scores, &mut rng)
            } else {
                argmax(&scores)
            }
        });
        sequence.push(token);
        if on_step(&sequence[1..]) == Flow::Stop {
            return Err(Error::Cancelled);
        }
        if cfg.is_eos(token) {
            break;
        }
        pause().await;
    }
    sequence.remove(0);
    Ok(sequence)
}

/// transformers adds this to the scores of candidates that must not be picked.
const BANNED: f32 = -1.0e9;

/// One candidate continuation: `beam`'s sequence plus `token`, with its accumulated score.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    score: f32,
    beam: usize,
    token: u32,
}

/// A slot of the finished-hypotheses list.
#[derive(Debug, Clone)]
struct Finished {
    score: f32,
    sequence: Vec<u32>,
    done: bool,
}

/// Indices of the `k` largest `scores`, best first; ties go to the lower index.
fn top_indices(scores: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// The `k` best continuations over all beams, best first (ties: lower beam, then lower token).
fn top_candidates(rows: &[Vec<f32>], beam_scores: &[f32], k: usize) -> Vec<Candidate> {
    let mut best: Vec<Candidate> = Vec::with_capacity(k + 1);
    for (beam, row) in rows.iter().enumerate() {
        for (token, &lp) in row.iter().enumerate() {
            let score = lp + beam_scores[beam];
            if best.len() == k && score.partial_cmp(&best[k - 1].score) != Some(Ordering::Greater) {
                continue;
            }
            let at = best.partition_point(|c| c.score >= score);
            best.insert(
                at,
                Candidate {
                    score,
                    beam,
                    token: token as u32,
                },
            );
            best.truncate(k);
        }
    }
    best
}

/// `x / length^penalty` as transformers computes it (the power in f64, the division in f32).
fn length_normalized(score: f32, length: usize, penalty: f32) -> f32 {
    score / (length as f64).powf(penalty as f64) as f32
}

/// Beam search, step for step the algorithm of transformers' `_beam_search` (batch of one, no
/// sampling): top `2 * num_beams` continuations of the accumulated log-probabilities, the best
/// `num_beams` unfinished ones keep running, finished ones among the top `num_beams` enter the
/// finished list with `score / length^length_penalty`, and the same stopping rules.
async fn beam_search(
    decoder: &mut dyn StepDecoder,
    cfg: &GenerationConfig,
    on_step: &mut dyn FnMut(&[u32]) -> Flow,
) -> Result<Vec<u32>> {
    let num_beams = cfg.num_beams;
    let keep = (1 + cfg.eos_token_ids.len()).max(2) * num_beams;
    // transformers' max_length counts the start token.
    let max_length = cfg.max_new_tokens + 1;
    let penalty = cfg.length_penalty;

    // Every beam starts as the start token, and only the first one counts (the others score
    // -1e9), so the first step runs one hypothesis; the cache is widened after it.
    let mut running: Vec<Vec<u32>> = vec![vec![cfg.decoder_start_token_id]];
    let mut running_scores: Vec<f32> = vec![0.0];
    let mut finished: Vec<Finished> = (0..num_beams)
        .map(|_| Finished {
            score: BANNED,
            sequence: Vec::new(),
            done: false,
        })
        .collect();
    let mut improvable = true;
    let mut cur_len = 1;
    loop {
        let last: Vec<u32> = running.iter().map(|s| s[s.len() - 1]).collect();
        let mut rows = decoder.step(&last)?;
        let candidates = profile::stage("search", || {
            for (row, sequence) in rows.iter_mut().zip(&running) {
                log_softmax(row);
                process(row, sequence, cfg);
            }
            top_candidates(&rows, &running_scores, keep)
        });
        let hits: Vec<bool> = candidates
            .iter()
            .map(|c| cfg.is_eos(c.token) || cur_len + 1 >= max_length)
            .collect();

        // Beams that keep running: the best unfinished continuations.
        let running_view: Vec<f32> = candidates
            .iter()
            .zip(&hits)
            .map(|(c, &hit)| if hit { c.score + BANNED } else { c.score })
            .collect();
        let next = top_indices(&running_view, num_beams);
        let extend = |c: &Candidate, running: &[Vec<u32>]| {
            let mut s = running[c.beam].clone();
            s.push(c.token);
            s
        };

        // Finished list: the old entries and the top `num_beams` candidates that just ended.
        let all_done = finished.iter().all(|f| f.done);
        let mut merged = std::mem::take(&mut finished);
        for (i, (c, &hit)) in candidates.iter().zip(&hits).enumerate() {
            let mut score = length_normalized(c.score, cur_len, penalty);
            if all_done && cfg.early_stopping == EarlyStopping::Done {
                score += BANNED;
            }
            if !improvable {
                score += BANNED;
            }
            let just_finished = hit && i < num_beams;
            if !just_finished {
                score += BANNED;
            }
            merged.push(Finished {
                score,
                sequence: if just_finished {
                    extend(c, &running)
                } else {
                    Vec::new()
                },
                done: just_finished,
            });
        }
        let merged_scores: Vec<f32> = merged.iter().map(|f| f.score).collect();
        finished = top_indices(&merged_scores, num_beams)
            .into_iter()
            .map(|i| merged[i].clone())
            .collect();

        let sources: Vec<u32> = next.iter().map(|&i| candidates[i].beam as u32).collect();
        running = next
            .iter()
            .map(|&i| extend(&candidates[i], &running))
            .collect();
        running_scores = next.iter().map(|&i| running_view[i]).collect();
        cur_len += 1;

        if on_step(&running[0][1..]) == Flow::Stop {
            return Err(Error::Cancelled);
        }

        // Can a running beam still beat the worst finished one?
        if improvable {
            let hypothetical = if cfg.early_stopping == EarlyStopping::Never && penalty > 0.0 {
                max_length - 1
            } else {
                cur_len - 1
            };
            let best_possible = length_normalized(running_scores[0], hypothetical, penalty);
            let worst = finished
                .iter()
                .map(|f| f.score)
                .fold(f32::INFINITY, f32::min);
            improvable = finished
                .iter()
                .any(|f| best_possible > if f.done { worst } else { BANNED });
        }
        let open = !(finished.iter().all(|f| f.done) && cfg.early_stopping == EarlyStopping::Done);
        let can_continue = !hits.iter().all(|&h| h);
        if !(improvable && open && can_continue) {
            break;
        }
        profile::stage("search.reorder", || decoder.reorder(&sources))?;
        pause().await;
    }
    let best = finished
        .into_iter()
        .find(|f| f.done)
        .map(|f| f.sequence)
        .unwrap_or_else(|| running.swap_remove(0));
    Ok(best[1..].to_vec())
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
            Ok(vec![logits; tokens.len()])
        }

        fn reorder(&mut self, _: &[u32]) -> Result<()> {
            Ok(())
        }
    }

    fn cfg(max: usize, min: usize) -> GenerationConfig {
        let mut c = GenerationConfig::new(0, vec![1], max);
        c.min_new_tokens = min;
        c
    }

    fn run(script: Vec<u32>, c: &GenerationConfig) -> (Result<Vec<u32>>, Vec<u32>) {
        let mut d = Scripted {
            script,
            seen: vec![],
        };
        let out = generate(&mut d, c, &mut |_| Flow::Continue);
        (out, d.seen)
    }

    #[test]
    fn feeds_start_then_previous_token_and_stops_at_eos() {
        let (out, seen) = run(vec![4, 5, 1, 6], &cfg(10, 0));
        assert_eq!(out.unwrap(), vec![4, 5, 1]);
        assert_eq!(seen, vec![0, 4, 5]);
    }

    #[test]
    fn max_and_min_lengths() {
        assert_eq!(run(vec![4, 5, 6, 7], &cfg(2, 0)).0.unwrap(), vec![4, 5]);
        // The script ends after 1 token, so the end token wins next unless banned.
        let out = run(vec![4], &cfg(3, 3)).0.unwrap();
        assert_eq!(out.len(), 3);
        assert!(!out.contains(&1));
    }

    #[test]
    fn stop_cancels() {
        let mut d = Scripted {
            script: vec![4, 5, 6],
            seen: vec![],
        };
        let r = generate(&mut d, &cfg(10, 0), &mut |seq| {
            if seq.last() == Some(&5) {
                Flow::Stop
            } else {
                Flow::Continue
            }
        });
        assert!(matches!(r, Err(Error::Cancelled)));
    }

    #[test]
    fn beam_search_ends_and_respects_lengths() {
        let mut c = cfg(6, 0);
        c.num_beams = 3;
        let out = run(vec![4, 5, 1], &c).0.unwrap();
        assert!(out.len() <= 6, "{out:?}");
        c.min_new_tokens = 6;
        let out = run(vec![4, 5, 1], &c).0.unwrap();
        assert_eq!(out.len(), 6);
        assert!(!out.contains(&1));
    }

    #[test]
    fn sampling_needs_one_beam() {
        let mut c = cfg(6, 0);
        c.num_beams = 2;
        c.do_sample = true;
        assert!(matches!(run(vec![4], &c).0, Err(Error::InvalidOption(_))));
    }
}
