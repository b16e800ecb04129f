// The API is documented in binding.d.ts, generated from the Rust doc comments by napi-rs.
export * from './binding'
