//! # firn-wasm
//!
//! The npm package's Rust side: wasm-bindgen bindings over [`firn_core`]. The bindings land with the
//! npm issue; until then this crate only proves the core links into a `cdylib`.

pub use firn_core;
