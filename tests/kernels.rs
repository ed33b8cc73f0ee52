//! The decoding kernels (plain-loop build) against candle's matmul.

#[path = "common/kernels.rs"]
mod kernels;

#[test]
fn kernels_match_candle_matmul() {
    kernels::check_kernels();
}

#[test]
fn stacked_layers_match_their_parts() {
    kernels::check_stacking();
}

#[test]
fn attention_matches_candle_ops() {
    kernels::check_attention();
}

#[test]
fn layer_norm_matches_candle() {
    kernels::check_rms_norm();
}
