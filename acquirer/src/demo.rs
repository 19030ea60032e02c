//! `--demo`: seeds a merchant, a terminal activation code and the virtual
//! cards' issuer keys, so a fresh acquirer can take a payment from the
//! simulated terminal at once.
//!
//! Issuer keys come from `cardsim/profiles/*.toml` (`pan` or `pan_prefix`,
//! `cvn`, `imk_ac`; one range per BIN, the card's IAD names its CVN) when
//! that directory exists; otherwise from
//! [`DEMO_RANGES`], public test values that protect nothing.

use crate::api::Shared;
use crate::error::ApiError;
use crate::merchant::{create_activation_code, OnboardRequest};
use crate::terminal::IssuerRangeRequest;
use std::path::Path;

/// (PAN prefix, CVN, IMK-AC) used when no card profiles are found. The key
/// is the well-known EMV test key 0123456789ABCDEFFEDCBA9876543210.
pub const DEMO_RANGES: &[(&str, &str, &str)] = &[
    ("4761", "visa-18", "0123456789ABCDEFFEDCBA9876543210"),
    ("5413", "mastercard-16", "0123456789ABCDEFFEDCBA9876543210"),
    ("6", "visa-18", "0123456789ABCDEFFEDCBA9876543210"),
];

/// What a demo seeding made, for printing.
#[derive(Debug)]
pub struct Seeded {
    pub merchant_id: String,
    pub merchant_key: String,
    pub activation_code: String,
    pub ranges: Vec<(String, String, String)>,
}

#[derive(serde::Deserialize)]
struct Profile {
    #[serde(default)]
    pan: Option<String>,
    #[serde(default)]
    pan_prefix: Option<String>,
    #[serde(default)]
    cvn: Option<String>,
    #[serde(default)]
    imk_ac: Option<String>,
}

/// Reads (prefix, cvn, imk) triples from card profiles; files that do not
/// have all three are skipped.
pub fn ranges_from_profiles(dir: &Path) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let Ok(prof) = toml::from_str::<Profile>(&text) else {
            continue;
        };
        // The BIN (first six digits): PCI lets the first six be shown, and
        // the profiles share one key per BIN.
        let prefix = prof
            .pan_prefix
            .or_else(|| prof.pan.map(|d| d.chars().take(6).collect()));
        let cvn = prof.cvn.map(|c| normalise_cvn(&c));
        if let (Some(prefix), Some(cvn), Some(imk)) = (prefix, cvn, prof.imk_ac) {
            match out.iter().find(|(p, _, _, _)| *p == prefix) {
                Some((_, _, k, from)) if !k.eq_ignore_ascii_case(&imk) => {
                    tracing::warn!(%prefix, profile = %p.display(), first = %from,
                        "profile has another key for a BIN already seeded; skipped");
                }
                Some(_) => {}
                None => out.push((prefix, cvn, imk, p.display().to_string())),
            }
        }
    }
    out
}

/// Profiles may say `18`, `visa-18`, `Visa18`...
fn normalise_cvn(c: &str) -> String {
    let lower: String = c
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    match lower.as_str() {
        "10" | "visa10" | "cvn10" => "visa-10",
        "18" | "visa18" | "cvn18" => "visa-18",
        "16" | "mastercard16" | "mc16" | "cvn16" => "mastercard-16",
        "17" | "mastercard17" | "mc17" | "cvn17" => "mastercard-17",
        _ => c,
    }
    .to_string()
}

pub async fn seed(st: &Shared, profiles: &Path) -> Result<Seeded, ApiError> {
    let mut ranges: Vec<(String, String, String)> = ranges_from_profiles(profiles)
        .into_iter()
        .map(|(p, c, k, _)| (p, c, k))
        .collect();
    if ranges.is_empty() {
        ranges = DEMO_RANGES
            .iter()
            .map(|(p, c, k)| (p.to_string(), c.to_string(), k.to_string()))
            .collect();
    }
    for (prefix, cvn, imk) in &ranges {
        crate::issuer::put_range(
            st,
            &IssuerRangeRequest {
                pan_prefix: prefix.clone(),
                cvn: cvn.clone(),
                imk_ac: imk.clone(),
                default_balance_minor: 1_000_000,
                velocity_limit: 0,
            },
        )
        .await?;
    }
    let onboarded = crate::merchant::onboard_merchant(
        st,
        &OnboardRequest {
            name: "Demo Grocery".into(),
            mcc: "5411".into(),
            settlement_account: "DE89370400440532013000".into(),
            fee_bps: 150,
            currency: "EUR".into(),
        },
    )
    .await?;
    // Due in two weeks rather than a year: a fresh demo shows the app's
    // review reminder and its confirmation.
    let soon = st.clock.now_ms().div_euclid(86_400_000).saturating_add(14);
    crate::review::schedule(
        st,
        &onboarded.merchant_id,
        &crate::review::ScheduleRequest {
            info_review_due: crate::util::format_day(soon),
        },
    )
    .await?;
    let code = create_activation_code(st, &onboarded.merchant_id).await?;
    Ok(Seeded {
        merchant_id: onboarded.merchant_id,
        merchant_key: onboarded.merchant_key,
        activation_code: code.code,
        ranges: ranges
            .into_iter()
            .map(|(p, c, _)| (p, c, "imk_ac".into()))
            .collect(),
    })
}
