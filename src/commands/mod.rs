//! One module per subcommand.
pub mod build;
pub mod report;
pub mod serve;
pub mod stage;
pub mod verify;
