//! Generates the ONNX protobuf types (prost) from `src/model/onnx.proto` (ONNX 1.17, from the
//! `onnx` PyPI wheel, Apache-2.0), compiled by protox so no `protoc` binary is needed.

fn main() {
    let proto = "src/model/onnx.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["src/model"]).expect("onnx.proto compiles");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("prost generates the ONNX types");
}
