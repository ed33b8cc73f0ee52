//! Typed errors for every layer of the summarizer.
//!
//! Each variant renders as one sentence a person can act on; `kind()` gives a stable code that the
//! JS side uses to decide how to react (for example, restart the worker or keep the model).

use std::fmt;

/// Everything that can go wrong while loading a model or summarizing text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model file is missing, malformed or does not match the others.
    #[error("{file}: {message}")]
    ModelFile { file: String, message: String },
    /// The text to summarize is empty after normalization.
    #[error("There is no text to summarize: the input is empty or only whitespace.")]
    EmptyInput,
    /// An option has a value the summarizer cannot use.
    #[error("Invalid option: {0}")]
    InvalidOption(String),
    /// The tokenizer failed on input text or ids.
    #[error("Tokenizer error: {0}")]
    Tokenizer(String),
    /// A tensor operation failed while running the model.
    #[error("Model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
    /// The caller asked to stop.
    #[error("Cancelled.")]
    Cancelled,
}

impl Error {
    /// Builds a [`Error::ModelFile`] naming `file`.
    pub fn model_file(file: &str, message: impl fmt::Display) -> Self {
        Error::ModelFile {
            file: file.to_string(),
            message: message.to_string(),
        }
    }

    /// A stable, machine-readable code for this error.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::ModelFile { .. } => "model-file",
            Error::EmptyInput => "empty-input",
            Error::InvalidOption(_) => "invalid-option",
            Error::Tokenizer(_) => "tokenizer",
            Error::Compute(_) => "compute",
            Error::Cancelled => "cancelled",
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
