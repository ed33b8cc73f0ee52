//! Joins per-chunk summaries into one text, incrementally so progress can stream.

/// Builds the merged summary one chunk summary at a time.
///
/// Parts are trimmed and joined with single spaces; empty parts and a part identical to the one
/// before it are dropped (repeated boilerplate chunks would otherwise repeat in the summary).
#[derive(Debug, Default, Clone)]
pub struct SummaryMerger {
    merged: String,
    previous: String,
}

impl SummaryMerger {
    /// Adds `part` and returns what it appended to the merged text (possibly empty).
    pub fn push(&mut self, part: &str) -> &str {
        let part = part.trim();
        let start = self.merged.len();
        if !part.is_empty() && part != self.previous {
            if !self.merged.is_empty() {
                self.merged.push(' ');
            }
            self.merged.push_str(part);
            self.previous = part.to_string();
        }
        &self.merged[start..]
    }

    /// The merged text so far.
    pub fn as_str(&self) -> &str {
        &self.merged
    }

    /// The merged text.
    pub fn finish(self) -> String {
        self.merged
    }
}

/// Merges all `parts` at once (see [`SummaryMerger`]).
pub fn merge_summaries<S: AsRef<str>>(parts: &[S]) -> String {
    let mut m = SummaryMerger::default();
    for p in parts {
        m.push(p.as_ref());
    }
    m.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_trimmed_non_empty_parts() {
        assert_eq!(
            merge_summaries(&[" A b. ", "", "C d.", "C d.", " E."]),
            "A b. C d. E."
        );
        assert_eq!(merge_summaries::<&str>(&[]), "");
    }

    #[test]
    fn deltas_concatenate_to_the_merged_text() {
        let mut m = SummaryMerger::default();
        let deltas: Vec<String> = ["x.", "", "y.", "y.", "z."]
            .iter()
            .map(|p| m.push(p).to_string())
            .collect();
        assert_eq!(deltas, vec!["x.", "", " y.", "", " z."]);
        assert_eq!(deltas.concat(), m.as_str());
    }
}
