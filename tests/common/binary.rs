//! The `pallas` binary started as a person or a supervisor starts it, but hermetically: a
//! cleared environment with only `PATH`, a private `HOME` (so no `~/.aws` files),
//! `AWS_EC2_METADATA_DISABLED=true` (no instance-metadata endpoint), `NO_COLOR=1` and no
//! stdin. So no real AWS credential or profile is ever used; tests add what they need.

use std::path::Path;
use std::process::{Command, Stdio};

/// The binary Cargo built for these tests.
pub fn pallas_exe() -> &'static str {
    env!("CARGO_BIN_EXE_pallas")
}

/// `pallas` with the hermetic environment and `home` as `HOME`.
pub fn hermetic_command(home: &Path) -> Command {
    let mut cmd = Command::new(pallas_exe());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    cmd
}

/// [`hermetic_command`] for async tests; the child is killed if the test drops it.
pub fn hermetic_tokio_command(home: &Path) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::from(hermetic_command(home));
    cmd.kill_on_drop(true);
    cmd
}
