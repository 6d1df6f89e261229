//! Standard output, for people and for scripts. A reader that stops early (`learnerctl ... |
//! head`) closes the pipe under the next write: that is the reader's choice, not a failure, so
//! learnerctl ends there, quietly and with 0, as `cat` does. Every print goes through here
//! (`out!`, `outln!`, `bytes`); the panic hook (`main`) holds the same line for a print that
//! does not, and maps any other panic to 3, so no path ends in Rust's 101.

use std::io::Write;

/// Writes `args` and flushes, ending the process on a closed pipe (0) or another failure (3).
pub fn text(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    settle(out.write_fmt(args).and_then(|()| out.flush()));
}

/// Writes `bytes` as they are (a report).
pub fn bytes(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    settle(out.write_all(bytes).and_then(|()| out.flush()));
}

/// A line on standard error; a closed standard error is no reason to fail.
pub fn error(args: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "{args}");
}

fn settle(written: std::io::Result<()>) {
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            error(format_args!("learnerctl: writing to standard output: {e}"));
            std::process::exit(3);
        }
    }
}

/// Whether a panic's message is a print into a closed pipe (`println!`'s own panic).
pub fn is_closed_pipe(message: &str) -> bool {
    message.contains("failed printing to stdout") && message.contains("Broken pipe")
}

/// `print!`, through `output::text`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::text(format_args!($($arg)*)) };
}

/// `println!`, through `output::text`.
macro_rules! outln {
    () => { $crate::output::text(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::text(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!`, through `output::error`.
macro_rules! errln {
    ($($arg:tt)*) => { $crate::output::error(format_args!($($arg)*)) };
}
