//! Joins per-chunk summaries into one text.

/// Joins the non-empty trimmed parts with single spaces, dropping a part identical to the one
/// before it (repeated chunks of boilerplate otherwise repeat in the summary).
pub fn merge_summaries<S: AsRef<str>>(parts: &[S]) -> String {
    let mut out = String::new();
    let mut previous = "";
    for part in parts {
        let part = part.as_ref().trim();
        if part.is_empty() || part == previous {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(part);
        previous = part;
    }
    out
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
}
