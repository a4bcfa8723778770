//! Model specs (`provider.model-id?query`) and what each model can do.

pub mod capabilities;
pub mod cross_region;
pub mod prices;
pub mod spec;
pub mod tool_choice;

pub use capabilities::{CapabilityOverrides, ModelCapabilities};
pub use cross_region::CrossRegion;
pub use spec::{ModelSpec, ModelSpecError, Provider, Reasoning};
pub use tool_choice::ToolChoice;
