//! Times as people read them in the commands' output: UTC dates, and spans like `47m 10s`.

/// `2026-11-22 18:30:00 UTC`.
pub(crate) fn utc(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}

/// `47m 10s`, `3h 02m`, `2d 4h`.
pub(crate) fn span(seconds: i64) -> String {
    let s = seconds.abs();
    let text = if s < 3600 {
        format!("{}m {:02}s", s / 60, s % 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, s % 3600 / 60)
    } else {
        format!("{}d {}h", s / 86_400, s % 86_400 / 3600)
    };
    text.trim_start_matches("0m ").to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_and_dates() {
        assert_eq!(super::span(59), "59s");
        assert_eq!(super::span(2830), "47m 10s");
        assert_eq!(super::span(3 * 3600 + 120), "3h 02m");
        assert_eq!(super::span(-(2 * 86_400 + 4 * 3600)), "2d 4h");
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
    }
}
