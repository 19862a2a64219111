//! The terminal, when there is one: a password prompt without echo and a one-line progress
//! display on stderr. Both stay silent when stderr is not a terminal (pipes, CI logs).

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Reads a line from the terminal with echo off (`stty`, so no unsafe terminal calls here).
pub(crate) fn read_password(prompt: &str) -> anyhow::Result<tessera_client::Secret> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| anyhow::anyhow!("no terminal to ask on ({e})"))?;
    let stty = |arg: &str| {
        Command::new("stty")
            .arg(arg)
            .stdin(tty.try_clone().map_or(Stdio::null(), Stdio::from))
            .status()
    };
    let mut out = tty.try_clone()?;
    write!(out, "{prompt}")?;
    out.flush()?;
    let _ = stty("-echo");
    let mut line = String::new();
    let read = std::io::BufReader::new(tty.try_clone()?).read_line(&mut line);
    let _ = stty("echo");
    writeln!(out)?;
    read?;
    Ok(tessera_client::Secret::new(
        line.trim_end_matches(['\r', '\n']),
    ))
}

/// Progress of a long walk, redrawn in place on stderr at most a few times a second.
pub(crate) struct Progress {
    enabled: bool,
    started: Instant,
    last_draw: Option<Instant>,
    label: String,
}

impl Progress {
    /// Shown only when stderr is a terminal and not `--quiet`.
    pub(crate) fn new(label: &str, quiet: bool) -> Self {
        Self {
            enabled: !quiet && std::io::stderr().is_terminal(),
            started: Instant::now(),
            last_draw: None,
            label: label.to_owned(),
        }
    }

    pub(crate) fn update(&mut self, items: u64, pages: u64, retries: u64) {
        if !self.enabled
            || self
                .last_draw
                .is_some_and(|t| t.elapsed().as_millis() < 150)
        {
            return;
        }
        self.last_draw = Some(Instant::now());
        self.draw(items, pages, retries);
    }

    fn draw(&self, items: u64, pages: u64, retries: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = items as f64 / secs;
        let retries = match retries {
            0 => String::new(),
            1 => ", 1 retry".to_owned(),
            n => format!(", {n} retries"),
        };
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{}: {} items, {} pages, {:.0}/s, {:.1}s{retries}",
            self.label,
            group(items),
            group(pages),
            rate,
            secs
        );
        let _ = err.flush();
    }

    /// Leaves the final figures on their own line.
    pub(crate) fn finish(&mut self, items: u64, pages: u64, retries: u64) {
        if self.enabled {
            self.draw(items, pages, retries);
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// `100000` as `100,000`.
pub(crate) fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn groups_thousands() {
        assert_eq!(super::group(0), "0");
        assert_eq!(super::group(999), "999");
        assert_eq!(super::group(1000), "1,000");
        assert_eq!(super::group(100_000), "100,000");
        assert_eq!(super::group(1_234_567), "1,234,567");
    }
}
