//! `firn`: the command line over firn-core.
fn main() {}
