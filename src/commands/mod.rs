//! One module per subcommand.
pub mod build;
pub mod ci;
pub mod init;
pub mod new;
pub mod report;
pub mod serve;
pub mod sign;
pub mod stage;
pub mod verify;
