//! Sentence-aware chunking of a text into pieces that fit the model's token budget.
//!
//! The text is tokenized once, as a whole; each token belongs to the sentence it starts in (or,
//! between sentences, to the next one). Sentences are packed greedily in order; a sentence longer
//! than the budget is cut at token boundaries. A chunk is a range of the text's tokens, so every
//! token is in exactly one chunk and none is re-tokenized (a piece cut inside a word tokenized on
//! its own could come out a token longer than planned), plus the byte range it covers, so no text
//! is rewritten or lost.

use std::ops::Range;

use crate::error::{Error, Result};

/// One chunk: a byte range of the text and the tokens of the text's encoding it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range within the planned text.
    pub range: Range<usize>,
    /// Indices, in the whole text's encoding, of the chunk's tokens (prefix and end token not
    /// included).
    pub tokens: Range<usize>,
}

/// The chunks a text is summarized in, in reading order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlan {
    /// The chunks; empty only for empty text. Their token ranges follow each other and cover
    /// every token of the text.
    pub chunks: Vec<Chunk>,
    /// Most text tokens a chunk may hold.
    pub text_budget: usize,
}

impl ChunkPlan {
    /// The chunk texts, borrowed from the text the plan was made for.
    pub fn texts<'a>(&'a self, text: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.chunks.iter().map(move |c| &text[c.range.clone()])
    }
}

/// Characters that end a sentence when followed by whitespace or the end of the text.
fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…' | '‼' | '⁇' | '⁈' | '⁉')
}

/// Full-width terminators (CJK) end a sentence even with no space after them.
fn is_wide_terminator(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '｡' | '︒')
}

/// Closing quotes and brackets that belong to the sentence before them.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | '”' | '’' | ')' | ']' | '}' | '»' | '」' | '』' | '）' | '】'
    )
}

/// Byte ranges of the sentences of `text`, trimmed, in order; line breaks end sentences too.
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (pos, c) = chars[i];
        let mut end = None;
        if c == '\n' {
            end = Some(pos);
        } else if is_terminator(c) || is_wide_terminator(c) {
            // Swallow repeated terminators and closers: `?!"` ends as one.
            let mut j = i + 1;
            while j < chars.len() && (is_terminator(chars[j].1) || is_closer(chars[j].1)) {
                j += 1;
            }
            let at_end = j == chars.len();
            if at_end || is_wide_terminator(c) || chars[j].1.is_whitespace() {
                end = Some(if at_end { text.len() } else { chars[j].0 });
                i = j - 1;
            }
        }
        if let Some(end) = end {
            push_trimmed(text, start..end, &mut out);
            start = end;
        }
        i += 1;
    }
    push_trimmed(text, start..text.len(), &mut out);
    out
}

fn push_trimmed(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let piece = &text[range.clone()];
    let lead = piece.len() - piece.trim_start().len();
    let trail = piece.len() - piece.trim_end().len();
    if lead + trail < piece.len() {
        out.push(range.start + lead..range.end - trail);
    }
}

/// Packs the sentences of `text` into chunks of at most `text_budget` tokens each; `spans` are
/// the byte ranges within `text` of the tokens of its one encoding, in order, without special
/// tokens.
pub fn plan_chunks(text: &str, spans: &[Range<usize>], text_budget: usize) -> Result<ChunkPlan> {
    if text_budget == 0 {
        return Err(Error::InvalidOption(
            "the token budget leaves no room for text after the task prefix".into(),
        ));
    }
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut current: Option<Chunk> = None;
    let sentences = split_sentences(text);
    let last = sentences.len().saturating_sub(1);
    let mut next = 0;
    for (s, sentence) in sentences.into_iter().enumerate() {
        // This sentence's tokens: those that start before its end (the last one takes the rest).
        let first = next;
        while next < spans.len() && (s == last || spans[next].start < sentence.end) {
            next += 1;
        }
        let (tokens, n) = (first..next, next - first);
        if n > text_budget {
            chunks.extend(current.take());
            let mut i = first;
            while i < next {
                let j = (i + text_budget).min(next);
                let start = if i == first {
                    sentence.start
                } else {
                    spans[i].start
                };
                let end = if j == next {
                    sentence.end
                } else {
                    spans[j].start
                };
                let mut piece = Vec::new();
                push_trimmed(text, start..end, &mut piece);
                // A piece of tokens with no visible text (spaces only) still holds its tokens.
                let range = piece.pop().unwrap_or(start..start.max(end));
                chunks.push(Chunk {
                    range,
                    tokens: i..j,
                });
                i = j;
            }
            continue;
        }
        match current.as_mut() {
            Some(c) if c.tokens.len() + n <= text_budget => {
                c.range.end = sentence.end;
                c.tokens.end = tokens.end;
            }
            _ => {
                chunks.extend(current.take());
                current = Some(Chunk {
                    range: sentence,
                    tokens,
                });
            }
        }
    }
    chunks.extend(current);
    Ok(ChunkPlan {
        chunks,
        text_budget,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy tokenizer: where each token of a text lies.
    trait TokenSpans {
        fn token_spans(&self, text: &str) -> Result<Vec<Range<usize>>>;
    }

    /// A word (whitespace-separated) is one token; each CJK ideograph or emoji is one more.
    struct Words;

    impl TokenSpans for Words {
        fn token_spans(&self, text: &str) -> Result<Vec<Range<usize>>> {
            let mut out = Vec::new();
            let mut start = None;
            for (i, c) in text.char_indices() {
                let wide = c as u32 >= 0x2E80;
                if c.is_whitespace() || wide {
                    if let Some(s) = start.take() {
                        out.push(s..i);
                    }
                    if wide {
                        out.push(i..i + c.len_utf8());
                    }
                } else if start.is_none() {
                    start = Some(i);
                }
            }
            out.extend(start.map(|s| s..text.len()));
            Ok(out)
        }
    }

    fn plan(text: &str, budget: usize) -> Result<ChunkPlan> {
        plan_chunks(text, &Words.token_spans(text)?, budget)
    }

    fn texts(text: &str, budget: usize) -> Vec<String> {
        plan(text, budget)
            .unwrap()
            .texts(text)
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn sentences_end_at_terminators_and_newlines() {
        let t = "One two. Three? \"Four!\" Five\nSix e.g.x seven";
        let s: Vec<&str> = split_sentences(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(
            s,
            vec!["One two.", "Three?", "\"Four!\"", "Five", "Six e.g.x seven"]
        );
    }

    #[test]
    fn packs_whole_sentences_up_to_the_budget() {
        let t = "a b c. d e. f g h i. j.";
        assert_eq!(texts(t, 5), vec!["a b c. d e.", "f g h i. j."]);
        assert_eq!(texts(t, 100), vec![t]);
        for budget in 1..8 {
            let plan = plan(t, budget).unwrap();
            assert!(plan
                .chunks
                .iter()
                .all(|c| c.tokens.len() <= budget && !c.tokens.is_empty()));
        }
    }

    #[test]
    fn long_sentence_is_cut_at_token_boundaries() {
        let t = "Short one. w1 w2 w3 w4 w5 w6 w7. Tail here.";
        assert_eq!(
            texts(t, 3),
            vec!["Short one.", "w1 w2 w3", "w4 w5 w6", "w7.", "Tail here."]
        );
    }

    #[test]
    fn one_huge_word_still_fits() {
        let word = "x".repeat(10_000);
        let plan = plan(&word, 4).unwrap();
        assert_eq!(plan.chunks.len(), 1);
        assert_eq!(plan.chunks[0].range, 0..10_000);
    }

    #[test]
    fn cjk_and_emoji_split_without_spaces() {
        let t = "今日は晴れ。明日は雨！👍🏽 great.";
        let s: Vec<&str> = split_sentences(t).into_iter().map(|r| &t[r]).collect();
        assert_eq!(s, vec!["今日は晴れ。", "明日は雨！", "👍🏽 great."]);
        let chunks = texts(t, 8);
        assert_eq!(chunks, vec!["今日は晴れ。", "明日は雨！👍🏽 great."]);
        // Every chunk is valid UTF-8 sliced on char boundaries, and nothing is lost.
        let joined: String = chunks.concat();
        assert_eq!(joined.replace(' ', ""), t.replace(' ', ""));
    }

    #[test]
    fn empty_text_has_no_chunks_and_zero_budget_is_an_error() {
        assert!(plan("", 10).unwrap().chunks.is_empty());
        assert!(plan("  \n ", 10).unwrap().chunks.is_empty());
        assert!(matches!(plan("a", 0), Err(Error::InvalidOption(_))));
    }

    #[test]
    fn every_word_is_kept_in_order() {
        let t = "Alpha beta gamma. Delta epsilon zeta eta theta iota kappa lambda. Mu nu.\n\nXi omicron pi rho.";
        for budget in 1..12 {
            let words: Vec<String> = texts(t, budget)
                .join(" ")
                .split_whitespace()
                .map(String::from)
                .collect();
            let orig: Vec<String> = t.split_whitespace().map(String::from).collect();
            assert_eq!(words, orig, "budget {budget}");
        }
    }

    /// A toy tokenizer whose spans of a long word are its letters: a cut inside the word.
    struct Letters;

    impl TokenSpans for Letters {
        fn token_spans(&self, text: &str) -> Result<Vec<Range<usize>>> {
            Ok(text
                .char_indices()
                .filter(|(_, c)| !c.is_whitespace())
                .map(|(i, c)| i..i + c.len_utf8())
                .collect())
        }
    }

    #[test]
    fn token_ranges_cover_every_token_once_in_order() {
        let t = "Alpha beta. Gammadeltaepsilonzeta eta!  \n\n Theta iota kappa. Mu.";
        let spans = Letters.token_spans(t).unwrap();
        for budget in 1..40 {
            let plan = plan_chunks(t, &spans, budget).unwrap();
            let mut next = 0;
            for c in &plan.chunks {
                assert_eq!(c.tokens.start, next, "budget {budget}");
                assert!(!c.tokens.is_empty() && c.tokens.len() <= budget);
                // The byte range covers the chunk's tokens.
                let (a, b) = (&spans[c.tokens.start], &spans[c.tokens.end - 1]);
                assert!(
                    c.range.start <= a.start && b.end <= c.range.end,
                    "budget {budget}"
                );
                next = c.tokens.end;
            }
            assert_eq!(next, spans.len(), "budget {budget}");
        }
    }
}
