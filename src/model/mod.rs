//! Model specs (`provider.model-id?query`) and what each model can do.

pub mod capabilities;
pub mod spec;

pub use capabilities::{CapabilityOverrides, ModelCapabilities};
pub use spec::{ModelSpec, ModelSpecError, Provider, Reasoning};
