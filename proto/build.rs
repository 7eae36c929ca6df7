//! Compiles the protocol with protox (pure Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_file = "proto/jianzhen/v1/coordinator.proto";
    println!("cargo:rerun-if-changed={proto_file}");
    let descriptors = protox::compile([proto_file], ["proto"])?;
    // Messages that carry secrets get a hand-written, redacted Debug (src/lib.rs), so a
    // `?lease` in a log line can never print an endpoint key or a vendor's key.
    tonic_prost_build::configure()
        .skip_debug([
            ".jianzhen.v1.EndpointConfig",
            ".jianzhen.v1.AddEndpointRequest",
        ])
        .compile_fds(descriptors)?;
    Ok(())
}
