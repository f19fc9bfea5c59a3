pub mod cli;
pub mod tui;
pub mod width;
