//! The T5 model: configuration, weights (safetensors or GGUF), quantization and the
//! encoder-decoder forward pass.

pub mod config;
pub mod layers;
pub mod quantize;
pub mod random;
pub mod source;
pub mod t5;
pub mod weights;

pub use config::{Activation, SummarizationParams, T5Config};
pub use layers::Embedding;
pub use source::ByteSource;
pub use t5::{DecoderCache, T5};
pub use weights::{StoredTensor, Weights, WeightsReader};
