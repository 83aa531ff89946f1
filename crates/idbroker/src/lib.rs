//! The idbroker server: settings, telemetry, start-up and wiring of the layers
//! (store → service → HTTP). `main.rs` is only the command line.

pub mod bootstrap;
pub mod cli;
pub mod credential_process;
pub mod probe;
pub mod settings;
pub mod startup;
pub mod telemetry;
pub mod token_file;
pub mod transfer;

pub use settings::Settings;
pub use startup::Application;
