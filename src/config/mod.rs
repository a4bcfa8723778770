//! Loading `agents.yaml`, `fastagent.config.yaml`, `fastagent.secrets.yaml` and `.env`.

mod types;

pub use types::*;
