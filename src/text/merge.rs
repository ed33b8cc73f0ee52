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

    /// What is already certain of the text [`Self::push`] will append for a chunk summary still
    /// being generated, `partial` so far (a summary grows at its end): nothing while `partial`
    /// may still turn out a repeat of the previous part, and never its last word, which the
    /// next token may continue (or, for a character split over byte tokens, change).
    pub fn provisional(&self, partial: &str) -> String {
        let part = partial.trim_start();
        if part.is_empty() || self.previous.starts_with(part) {
            return String::new();
        }
        let Some(end) = part.rfind(char::is_whitespace) else {
            return String::new();
        };
        let sure = part[..end].trim_end();
        if sure.is_empty() {
            return String::new();
        }
        let sep = if self.merged.is_empty() { "" } else { " " };
        format!("{sep}{sure}")
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

#[cfg(test)]
mod tests {
    use super::*;

    fn merge_summaries<S: AsRef<str>>(parts: &[S]) -> String {
        let mut m = SummaryMerger::default();
        for p in parts {
            m.push(p.as_ref());
        }
        m.finish()
    }

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

    #[test]
    fn provisional_text_is_where_the_delta_starts() {
        let mut m = SummaryMerger::default();
        assert_eq!(m.provisional(" The"), "");
        assert_eq!(m.provisional(" The cat"), "The");
        assert_eq!(m.provisional(" The cat sat  "), "The cat sat");
        assert_eq!(m.push(" The cat sat. "), "The cat sat.");
        // A possible repeat shows nothing until it differs.
        assert_eq!(m.provisional("The cat sat"), "");
        assert_eq!(m.provisional("The cat sat on it"), " The cat sat on");
        for partial in ["Dogs", "Dogs bark", "Dogs bark loudly."] {
            let sure = m.provisional(partial);
            assert!(" Dogs bark loudly.".starts_with(&sure), "{sure:?}");
        }
        assert_eq!(m.push("Dogs bark loudly."), " Dogs bark loudly.");
    }
}
