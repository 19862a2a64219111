//! The `Authorization` header's credentials (RFC 7235 §2.1, RFC 9110 §11.4): a scheme, one
//! or more spaces, then the credentials. Scheme names are case-insensitive, so `Bearer`,
//! `bearer` and `BEARER` are one scheme.

/// The credentials after `scheme` in `header`, trimmed; `None` when the header uses another
/// scheme or carries nothing after it.
pub fn credentials<'a>(header: &'a str, scheme: &str) -> Option<&'a str> {
    let header = header.trim_start();
    let (name, rest) = header.split_once([' ', '\t'])?;
    if !name.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = rest.trim();
    (!rest.is_empty()).then_some(rest)
}

#[cfg(test)]
mod tests {
    use super::credentials;

    #[test]
    fn the_scheme_matches_in_any_case_and_spacing() {
        for h in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR   abc ",
            "Bearer\tabc",
        ] {
            assert_eq!(credentials(h, "Bearer"), Some("abc"), "{h:?}");
        }
        assert_eq!(credentials("Basic abc", "Bearer"), None);
        assert_eq!(credentials("Bearerabc", "Bearer"), None);
        assert_eq!(credentials("Bearer ", "Bearer"), None);
        assert_eq!(credentials("", "Bearer"), None);
        assert_eq!(credentials("basic dTpw", "Basic"), Some("dTpw"));
    }
}
