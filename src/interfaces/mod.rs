pub mod cli;
pub mod tui;
