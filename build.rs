//! Compiles `proto/*.proto` with prost at build time.
//!
//! protox parses the schema in pure Rust, so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = [
        "proto/wa.proto",
        "proto/signal.proto",
        "proto/app_state.proto",
        "proto/stored.proto",
    ];
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
