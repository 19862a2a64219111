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
/// A SAML token's `Conditions NotOnOrAfter` without a policy: one hour.
pub const SAML_TOKEN_SECONDS: i64 = 3600;
/// Added to a policy's lifetime for SAML tokens: "the lifetime configured in the policy if
/// any, plus a clock skew factor of five minutes" (configurable-token-lifetimes).
pub const SAML_POLICY_SKEW_SECONDS: i64 = 300;

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

    /// Where the lifetime came from, in words (the portal's token activity).
    pub fn describe(&self) -> String {
        match self {
            Self::Default => "Entra's default (a random 60-90 minutes)".to_owned(),
            Self::CaeDefault => "the CAE default (a random 20-28 hours)".to_owned(),
            Self::OrganizationPolicy { display_name, .. } => {
                format!("the organization's default policy '{display_name}'")
            }
            Self::ApplicationPolicy { display_name, .. } => {
                format!("policy '{display_name}', assigned to the app")
            }
            Self::TestOverride => "the test-mode lifetime".to_owned(),
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

/// Decides a SAML token's `Conditions NotOnOrAfter` lifetime: one hour; with a policy, the
/// policy's lifetime plus the five-minute skew; the test override exactly. CAE does not
/// apply to SAML tokens, and `SubjectConfirmationData NotOnOrAfter` is not decided here
/// (no policy affects it).
pub fn saml_token_lifetime(inputs: &LifetimeInputs) -> LifetimeDecision {
    let chosen = id_token_lifetime(inputs);
    let seconds = match chosen.source {
        LifetimeSource::Default | LifetimeSource::CaeDefault => SAML_TOKEN_SECONDS,
        LifetimeSource::TestOverride => chosen.seconds,
        LifetimeSource::OrganizationPolicy { .. } | LifetimeSource::ApplicationPolicy { .. } => {
            chosen.seconds + SAML_POLICY_SKEW_SECONDS
        }
    };
    LifetimeDecision {
        seconds,
        source: chosen.source,
    }
}

/// What a token's lifetime matches, read back from its `iat` and `exp` (`tessera decode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LifetimeMatch {
    /// Within Entra's random 60-90 minutes for access tokens (a policy of such a length
    /// looks the same).
    Default { seconds: i64 },
    /// Within the 20-28 hours Entra gives CAE-capable clients.
    CaeDefault { seconds: i64 },
    /// The 1 hour of an ID token.
    IdTokenDefault,
    /// Only a token lifetime policy (10 minutes to 1 day) gives this.
    Policy { seconds: i64 },
    /// Nothing Entra issues (a test override, another issuer, a forged token).
    Unusual { seconds: i64 },
}

impl LifetimeMatch {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Self::Default { seconds } => format!(
                "{}: within Entra's default for access tokens (a random 60-90 minutes); no policy needed to explain it",
                format_timespan(*seconds)
            ),
            Self::CaeDefault { seconds } => format!(
                "{}: Entra's long-lived default for CAE-capable clients (20-28 hours)",
                format_timespan(*seconds)
            ),
            Self::IdTokenDefault => "01:00:00: Entra's default for ID tokens".to_owned(),
            Self::Policy { seconds } => format!(
                "{}: set by a token lifetime policy (the defaults are 60-90 minutes for access tokens, 1 hour for ID tokens)",
                format_timespan(*seconds)
            ),
            Self::Unusual { seconds } => format!(
                "{seconds} seconds: neither an Entra default nor a policy lifetime (10 minutes to 1 day)"
            ),
        }
    }
}

/// Classifies a token by `exp - iat`; `iat` is back-dated [`BACKDATE_SECONDS`] by Entra, so
/// the issued lifetime is that much shorter.
pub fn classify(exp_minus_iat: i64, id_token: bool, cae_capable: bool) -> LifetimeMatch {
    let seconds = exp_minus_iat - BACKDATE_SECONDS;
    if id_token && seconds == ID_TOKEN_SECONDS {
        return LifetimeMatch::IdTokenDefault;
    }
    if !id_token && cae_capable && (CAE_MIN_SECONDS..=CAE_MAX_SECONDS).contains(&seconds) {
        return LifetimeMatch::CaeDefault { seconds };
    }
    if !id_token && (DEFAULT_MIN_SECONDS..=DEFAULT_MAX_SECONDS).contains(&seconds) {
        return LifetimeMatch::Default { seconds };
    }
    if (POLICY_MIN_SECONDS..=POLICY_MAX_SECONDS).contains(&seconds) {
        return LifetimeMatch::Policy { seconds };
    }
    LifetimeMatch::Unusual { seconds }
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
/// seconds. Like .NET's `TimeSpan.Parse`, `hh:mm:ss` with hours of 24 or more is read as
/// `d:hh:mm` (so `28:00:00` is 28 days, over any policy maximum, and `24:60:00` is invalid);
/// graph-api.md §1.2 has the evidence that Graph parses this way.
pub fn parse_timespan(text: &str) -> Result<i64, TimeSpanError> {
    let syntax = || TimeSpanError::Syntax(text.to_owned());
    let field = |v: &str, max: i64| -> Result<i64, TimeSpanError> {
        if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let n: i64 = v.parse().map_err(|_| syntax())?;
        if n > max { Err(syntax()) } else { Ok(n) }
    };
    let (days, clock) = match text.split_once('.') {
        Some((d, rest)) if rest.contains(':') => {
            if d.is_empty() || d.len() > 8 || !d.bytes().all(|b| b.is_ascii_digit()) {
                return Err(syntax());
            }
            (d.parse::<i64>().map_err(|_| syntax())?, rest)
        }
        _ => (0, text),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let [h, m, s] = parts.as_slice() else {
        return Err(syntax());
    };
    if days == 0 && text == clock && field(h, 99).is_ok_and(|hours| hours > 23) {
        let d = field(h, 99)?;
        return Ok(d * 86_400 + field(m, 23)? * 3600 + field(s, 59)? * 60);
    }
    let (h, m, s) = (field(h, 23)?, field(m, 59)?, field(s, 59)?);
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
    fn saml_tokens_get_an_hour_or_the_policy_plus_five_minutes() {
        let none = saml_token_lifetime(&LifetimeInputs::default());
        assert_eq!((none.seconds, none.source), (3600, LifetimeSource::Default));
        // CAE is for access tokens: a SAML token keeps its hour.
        let cae = saml_token_lifetime(&LifetimeInputs {
            cae_capable: true,
            ..Default::default()
        });
        assert_eq!(cae.seconds, 3600);
        let app = saml_token_lifetime(&LifetimeInputs {
            application_policy: Some(policy("two-hours", 7200)),
            ..Default::default()
        });
        assert_eq!(app.seconds, 7200 + 300);
        assert_eq!(app.source.label(), "application-policy");
        let org = saml_token_lifetime(&LifetimeInputs {
            organization_default: Some(policy("org", 1800)),
            ..Default::default()
        });
        assert_eq!(
            (org.seconds, org.source.label()),
            (2100, "organization-policy")
        );
        let test = saml_token_lifetime(&LifetimeInputs {
            organization_default: Some(policy("org", 1800)),
            test_override_seconds: Some(20),
            ..Default::default()
        });
        assert_eq!(test.seconds, 20);
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
        // .NET reads hours of 24 or more as days.
        assert_eq!(parse_timespan("28:00:00"), Ok(28 * 86_400));
        assert_eq!(parse_timespan("24:05:00"), Ok(24 * 86_400 + 5 * 3600));
        assert!(parse_timespan("24:24:00").is_err());
        assert!(matches!(
            parse_policy_lifetime("28:00:00"),
            Err(TimeSpanError::TooLong(_))
        ));
        assert_eq!(
            parse_policy_lifetime("28:00:00").map_err(|e| e.to_string()),
            Err("28:00:00 is more than the 1-day maximum (1.00:00:00)".to_owned())
        );
        assert!(parse_timespan("x.08:00:00").is_err());
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
        assert_eq!(
            classify(4000 + 300, false, false),
            LifetimeMatch::Default { seconds: 4000 }
        );
        assert_eq!(
            classify(28_800 + 300, false, false),
            LifetimeMatch::Policy { seconds: 28_800 }
        );
        assert_eq!(
            classify(3600 + 300, true, false),
            LifetimeMatch::IdTokenDefault
        );
        assert_eq!(
            classify(80_000 + 300, false, true),
            LifetimeMatch::CaeDefault { seconds: 80_000 }
        );
        assert_eq!(
            classify(90_000 + 300, false, false),
            LifetimeMatch::Unusual { seconds: 90_000 }
        );
        assert_eq!(
            classify(20 + 300, false, false),
            LifetimeMatch::Unusual { seconds: 20 }
        );
        assert_eq!(format_timespan(86_400), "1.00:00:00");
    }
}
