//! The layering rules of ARCHITECTURE.md, checked on the source: which part of `src/` may name
//! which (`crate::…` paths), and that nothing outside the wasm shell names the browser. A new dependency between parts is a decision: add it to
//! `ALLOWED` (and to ARCHITECTURE.md) or move the code.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Each part of the crate and the parts it may name (`error` is allowed everywhere).
const ALLOWED: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("rng", &[]),
    ("stepwise", &[]),
    ("text", &[]),
    ("metrics", &[]),
    ("kernels", &[]),
    ("generation", &["metrics", "stepwise", "rng", "kernels"]),
    ("model", &["metrics", "kernels", "rng", "generation"]),
    (
        "pipeline",
        &[
            "text",
            "generation",
            "model",
            "metrics",
            "stepwise",
            "kernels",
        ],
    ),
    ("bench", &["generation", "model", "kernels", "metrics"]),
    // The browser shell may use everything.
    ("wasm", &["*"]),
];

/// Names only the wasm shell may use.
const BROWSER: &[&str] = &["web_sys", "js_sys", "wasm_bindgen", "crate::wasm"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The part a file belongs to: its folder under `src/`, or its own name (`src/pipeline.rs`).
fn part_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_string();
    match first.as_str() {
        "lib.rs" | "bin" => None,
        _ => Some(first.trim_end_matches(".rs").to_string()),
    }
}

/// The code of a file without comments (line comments and doc comments).
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(i, l)| {
        let code = l.split("//").next().unwrap_or("");
        (!code.trim().is_empty()).then_some((i + 1, code))
    })
}

#[test]
fn parts_name_only_what_they_may() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let parts: BTreeSet<&str> = ALLOWED.iter().map(|(p, _)| *p).collect();
    let mut broken = Vec::new();
    let mut seen = BTreeSet::new();
    for file in &files {
        let Some(part) = part_of(&src, file) else {
            continue;
        };
        let rules = ALLOWED
            .iter()
            .find(|(p, _)| *p == part)
            .unwrap_or_else(|| panic!("{}: part {part} has no rule in ALLOWED", file.display()))
            .1;
        seen.insert(part.clone());
        let text = std::fs::read_to_string(file).unwrap();
        let name = file.strip_prefix(&src).unwrap().display().to_string();
        for (line, code) in code_lines(&text) {
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let target: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                // `crate::Error` and `crate::Result` are the error part's re-exports.
                let target = match target.as_str() {
                    "Error" | "Result" => "error".to_string(),
                    t => t.to_string(),
                };
                let ok = target == part
                    || target == "error"
                    || rules.contains(&"*")
                    || rules.contains(&target.as_str());
                if (!ok && parts.contains(target.as_str())) || (target == "wasm" && part != "wasm")
                {
                    broken.push(format!("src/{name}:{line}: {part} names {target}"));
                }
            }
            if part != "wasm" {
                for b in BROWSER {
                    if code.contains(b) {
                        broken.push(format!("src/{name}:{line}: {part} names the browser ({b})"));
                    }
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
    // Every rule is for a part that exists.
    for (p, _) in ALLOWED {
        assert!(
            seen.contains(*p) || *p == "error",
            "ALLOWED names {p}, which src/ no longer has"
        );
    }
}

/// The weight-file parsers hand out tensors as stored; the compute layers made from them
/// (`Linear`, candle's `QMatMul`, `Embedding`) are built in `model/layers.rs`.
#[test]
fn weight_parsers_build_no_layers() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model/weights.rs");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut broken = Vec::new();
    for (line, code) in code_lines(&text) {
        for layer in ["Linear", "QMatMul", "Embedding"] {
            let named = code.match_indices(layer).any(|(at, _)| {
                let before = code[..at].chars().next_back();
                let after = code[at + layer.len()..].chars().next();
                !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if named {
                broken.push(format!("src/model/weights.rs:{line}: names {layer}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "weights.rs builds layers:\n{}",
        broken.join("\n")
    );
}
