//! Standard output for every subcommand. `println!` and `print!` in this binary are the
//! macros defined in `main.rs`, which write through [`text`]: a closed pipe
//! (`segloss demo | head -1`) ends the process quietly (exit 0: the reader wanted no more),
//! any other write error (`> /dev/full`) is one line naming the operation, exit 1. Never a panic.

use std::io::Write;

/// Writes formatted text to standard output (flushed, so a full disk is seen here).
pub fn text(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut out = std::io::stdout().lock();
    let mut result = out.write_fmt(args);
    if result.is_ok() && newline {
        result = out.write_all(b"\n");
    }
    if result.is_ok() {
        result = out.flush();
    }
    if let Err(e) = result {
        fail(e);
    }
}

/// Flushes standard output at the end of a command.
pub fn flush() {
    if let Err(e) = std::io::stdout().lock().flush() {
        fail(e);
    }
}

fn fail(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("segloss: writing to standard output: {e}");
    std::process::exit(1);
}
