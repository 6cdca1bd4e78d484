//! One module per subcommand.
pub mod build;
pub mod stage;
pub mod verify;
