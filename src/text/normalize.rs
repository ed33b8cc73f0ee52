//! Cleans pasted text: one newline convention, no control characters, single spaces, NFC.
//!
//! Paragraph breaks survive (as one blank line) because the chunker treats them as sentence ends.

use unicode_normalization::UnicodeNormalization;

/// Normalizes `text` for summarization; returns an empty string when nothing printable remains.
pub fn normalize(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0usize;
    for line in text.nfc().collect::<String>().split('\n') {
        let cleaned = clean_line(line);
        if cleaned.is_empty() {
            blank_lines += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank_lines > 0 { "\n\n" } else { "\n" });
        }
        out.push_str(&cleaned);
        blank_lines = 0;
    }
    out
}

/// Maps control and space-like characters to single spaces and trims the line.
fn clean_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut pending_space = false;
    for c in line.chars() {
        let spacey = c.is_whitespace() || c.is_control() || is_invisible(c);
        if spacey {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
    }
    out
}

/// Zero-width and format characters that only make tokens differ invisibly.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_whitespace_and_keeps_paragraphs() {
        let s = "  Hello \t world.\r\n\r\n\r\n Next\u{00a0}\u{00a0}para.  \nSame para.\u{0007}";
        assert_eq!(normalize(s), "Hello world.\n\nNext para.\nSame para.");
    }

    #[test]
    fn whitespace_only_is_empty() {
        assert_eq!(normalize(" \n\t\r\n \u{200B} "), "");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn composes_to_nfc_and_keeps_cjk_and_emoji() {
        assert_eq!(normalize("e\u{0301}t\u{00e9}"), "\u{00e9}t\u{00e9}");
        assert_eq!(normalize("今日は。 👍🏽 ok"), "今日は。 👍🏽 ok");
    }
}
