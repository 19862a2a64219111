//! Token lifetime rules in one place: Entra's defaults (random 60-90 minutes, CAE 20-28
//! hours, ID tokens 1 hour), token lifetime policies (10 minutes to 1 day, .NET TimeSpan
//! text) and their precedence, so the server decides and explains lifetimes the same way.

use crate::clock::Random;

pub const DEFAULT_MIN_SECONDS: i64 = 60 * 60;
pub const DEFAULT_MAX_SECONDS: i64 = 90 * 60;
pub const CAE_MIN_SECONDS: i64 = 20 * 3600;
pub const CAE_MAX_SECONDS: i64 = 28 * 3600;
pub const ID_TOKEN_SECONDS: i64 = 3600;
pub const POLICY_MIN_SECONDS: i64 = 10 * 60;
pub const POLICY_MAX_SECONDS: i64 = 24 * 3600;
/// `iat` and `nbf` are back-dated by this much, as Entra does.
pub const BACKDATE_SECONDS: i64 = 300;

/// A token lifetime policy that may apply to a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLifetime {
    pub policy_id: String,
    pub display_name: String,
    pub access_token_seconds: i64,
}

/// Which of an organization default and an app-assigned policy wins. Microsoft's published
/// documentation has disagreed with itself; the documented order is the default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precedence {
    /// The organization default is enforced over an app's own policy.
    #[default]
    OrganizationFirst,
    /// An app's own policy is used before the organization default.
    ApplicationFirst,
}

/// Everything the lifetime decision depends on, gathered by the caller.
#[derive(Debug, Clone, Default)]
pub struct LifetimeInputs {
    /// The client declared CAE capability (`xms_cc` `cp1`).
    pub cae_capable: bool,
    pub organization_default: Option<PolicyLifetime>,
    pub application_policy: Option<PolicyLifetime>,
    pub precedence: Precedence,
    /// Test mode only: every access and ID token lives exactly this long.
    pub test_override_seconds: Option<i64>,
}

/// Why a token got its lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifetimeSource {
    Default,
    CaeDefault,
    OrganizationPolicy {
        policy_id: String,
        display_name: String,
    },
    ApplicationPolicy {
        policy_id: String,
        display_name: String,
    },
    TestOverride,
}

impl LifetimeSource {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::CaeDefault => "cae-default",
            Self::OrganizationPolicy { .. } => "organization-policy",
            Self::ApplicationPolicy { .. } => "application-policy",
            Self::TestOverride => "test-override",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifetimeDecision {
    pub seconds: i64,
    pub source: LifetimeSource,
}

/// Decides an access token's lifetime. Order: test override; CAE long-lived default (a policy
/// cannot shorten it, as documented); the policies in `precedence` order; Entra's default.
pub fn access_token_lifetime(inputs: &LifetimeInputs, random: &dyn Random) -> LifetimeDecision {
    if let Some(seconds) = inputs.test_override_seconds {
        return LifetimeDecision {
            seconds,
            source: LifetimeSource::TestOverride,
        };
    }
    if inputs.cae_capable {
        return LifetimeDecision {
            seconds: random.in_range(CAE_MIN_SECONDS, CAE_MAX_SECONDS),
            source: LifetimeSource::CaeDefault,
        };
    }
    let org = inputs.organization_default.as_ref().map(|p| {
        (
            p,
            LifetimeSource::OrganizationPolicy {
                policy_id: p.policy_id.clone(),
                display_name: p.display_name.clone(),
            },
        )
    });
    let app = inputs.application_policy.as_ref().map(|p| {
        (
            p,
            LifetimeSource::ApplicationPolicy {
                policy_id: p.policy_id.clone(),
                display_name: p.display_name.clone(),
            },
        )
    });
    let chosen = match inputs.precedence {
        Precedence::OrganizationFirst => org.or(app),
        Precedence::ApplicationFirst => app.or(org),
    };
    match chosen {
        Some((policy, source)) => LifetimeDecision {
            seconds: policy.access_token_seconds,
            source,
        },
        None => LifetimeDecision {
            seconds: random.in_range(DEFAULT_MIN_SECONDS, DEFAULT_MAX_SECONDS),
            source: LifetimeSource::Default,
        },
    }
}

/// Decides an ID token's lifetime: 1 hour, a policy's lifetime, or the test override.
pub fn id_token_lifetime(inputs: &LifetimeInputs) -> LifetimeDecision {
    if let Some(seconds) = inputs.test_override_seconds {
        return LifetimeDecision {
            seconds,
            source: LifetimeSource::TestOverride,
        };
    }
    let policy = match inputs.precedence {
        Precedence::OrganizationFirst => inputs
            .organization_default
            .as_ref()
            .or(inputs.application_policy.as_ref()),
        Precedence::ApplicationFirst => inputs
            .application_policy
            .as_ref()
            .or(inputs.organization_default.as_ref()),
    };
    match policy {
        Some(p) => LifetimeDecision {
            seconds: p.access_token_seconds,
            source: if Some(p) == inputs.organization_default.as_ref() {
                LifetimeSource::OrganizationPolicy {
                    policy_id: p.policy_id.clone(),
                    display_name: p.display_name.clone(),
                }
            } else {
                LifetimeSource::ApplicationPolicy {
                    policy_id: p.policy_id.clone(),
                    display_name: p.display_name.clone(),
                }
            },
        },
        None => LifetimeDecision {
            seconds: ID_TOKEN_SECONDS,
            source: LifetimeSource::Default,
        },
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeSpanError {
    #[error("'{0}' is not a TimeSpan of the form [d.]hh:mm:ss")]
    Syntax(String),
    #[error("{0} is less than the 10-minute minimum (00:10:00)")]
    TooShort(String),
    #[error("{0} is more than the 1-day maximum (1.00:00:00)")]
    TooLong(String),
}

/// Parses .NET TimeSpan text `[d.]hh:mm:ss` (hours 0-23, minutes and seconds 0-59) into
/// seconds. `28:00:00` is a syntax error, as it is in .NET.
pub fn parse_timespan(text: &str) -> Result<i64, TimeSpanError> {
    let syntax = || TimeSpanError::Syntax(text.to_owned());
    let (days, clock) = match text.split_once('.') {
        Some((d, rest)) if rest.contains(':') => (d.parse::<i64>().map_err(|_| syntax())?, rest),
        _ => (0, text),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err(syntax());
    };
    let field = |v: &str, max: i64| -> Result<i64, TimeSpanError> {
        if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let n: i64 = v.parse().map_err(|_| syntax())?;
        if n > max { Err(syntax()) } else { Ok(n) }
    };
    let (h, m, s) = (field(h, 23)?, field(m, 59)?, field(s, 59)?);
    if days < 0 {
        return Err(syntax());
    }
    Ok(days * 86_400 + h * 3600 + m * 60 + s)
}

/// Parses a token lifetime policy's `AccessTokenLifetime`: a TimeSpan from 10 minutes to 1 day.
pub fn parse_policy_lifetime(text: &str) -> Result<i64, TimeSpanError> {
    let seconds = parse_timespan(text)?;
    if seconds < POLICY_MIN_SECONDS {
        return Err(TimeSpanError::TooShort(text.to_owned()));
    }
    if seconds > POLICY_MAX_SECONDS {
        return Err(TimeSpanError::TooLong(text.to_owned()));
    }
    Ok(seconds)
}

/// Formats seconds as TimeSpan text, `1.00:00:00` or `08:00:00`.
pub fn format_timespan(seconds: i64) -> String {
    let (d, rest) = (seconds / 86_400, seconds % 86_400);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    if d > 0 {
        format!("{d}.{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl Random for Fixed {
        fn fill(&self, dest: &mut [u8]) {
            dest.fill(self.0);
        }
    }

    fn policy(id: &str, secs: i64) -> PolicyLifetime {
        PolicyLifetime {
            policy_id: id.into(),
            display_name: id.into(),
            access_token_seconds: secs,
        }
    }

    #[test]
    fn defaults_are_in_range() {
        for b in [0u8, 3, 200, 255] {
            let d = access_token_lifetime(&LifetimeInputs::default(), &Fixed(b));
            assert!((3600..=5400).contains(&d.seconds));
            assert_eq!(d.source, LifetimeSource::Default);
            let cae = access_token_lifetime(
                &LifetimeInputs {
                    cae_capable: true,
                    ..Default::default()
                },
                &Fixed(b),
            );
            assert!((72_000..=100_800).contains(&cae.seconds));
        }
    }

    #[test]
    fn precedence_is_one_switch() {
        let mut inputs = LifetimeInputs {
            organization_default: Some(policy("org", 28_800)),
            application_policy: Some(policy("app", 1200)),
            ..Default::default()
        };
        assert_eq!(access_token_lifetime(&inputs, &Fixed(1)).seconds, 28_800);
        inputs.precedence = Precedence::ApplicationFirst;
        assert_eq!(access_token_lifetime(&inputs, &Fixed(1)).seconds, 1200);
        inputs.organization_default = None;
        inputs.precedence = Precedence::OrganizationFirst;
        assert_eq!(
            access_token_lifetime(&inputs, &Fixed(1)).source.label(),
            "application-policy"
        );
        inputs.test_override_seconds = Some(20);
        assert_eq!(access_token_lifetime(&inputs, &Fixed(1)).seconds, 20);
        assert_eq!(id_token_lifetime(&inputs).seconds, 20);
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("08:00:00"), Ok(28_800));
        assert_eq!(parse_timespan("1.00:00:00"), Ok(86_400));
        assert_eq!(parse_timespan("0.00:10:00"), Ok(600));
        assert!(matches!(
            parse_timespan("28:00:00"),
            Err(TimeSpanError::Syntax(_))
        ));
        assert!(parse_timespan("8:00").is_err());
        assert!(parse_timespan("08:60:00").is_err());
        assert!(parse_timespan("-1.00:00:00").is_err());
        assert!(parse_timespan("ab:cd:ef").is_err());
        assert!(matches!(
            parse_policy_lifetime("00:09:59"),
            Err(TimeSpanError::TooShort(_))
        ));
        assert!(matches!(
            parse_policy_lifetime("1.00:00:01"),
            Err(TimeSpanError::TooLong(_))
        ));
        assert_eq!(format_timespan(28_800), "08:00:00");
        assert_eq!(format_timespan(86_400), "1.00:00:00");
    }
}
