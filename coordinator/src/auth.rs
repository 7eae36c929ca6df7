//! Who is calling: roles, principals and bearer tokens.
//!
//! A token is `jz_` followed by 64 hex digits (256 random bits). The store keeps only its
//! SHA-256: a token has far more entropy than a password, so a fast hash cannot be
//! reversed by guessing, and a stolen store grants nothing. The token itself is shown
//! once, by `jianzhen token create`.
//!
//! The roles and what each may do are the table in `docs/security.md`; the checks are
//! [`Principal::require`] in the gRPC layer and the ownership rules in
//! [`Principal::may_see_run`].

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The operator: everything, including paths, key variables and the judge.
    Admin,
    /// Submits evaluations of its own registered endpoints on published suites; sees its
    /// own runs' aggregate scores only.
    Vendor,
    /// Reads every run's full report; changes nothing.
    Reviewer,
    /// Registers, heartbeats, leases and reports results; nothing else.
    Worker,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Admin, Role::Vendor, Role::Reviewer, Role::Worker];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Vendor => "vendor",
            Role::Reviewer => "reviewer",
            Role::Worker => "worker",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| format!("unknown role `{text}`; use admin, vendor, reviewer or worker"))
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's name (unique in the store): the caller's identity in the audit table,
    /// the owner of a vendor's runs and endpoints, the holder of a worker's leases.
    pub name: String,
    pub role: Role,
    /// A worker the operator trusts with gold answers (judged items carry them).
    pub trusted: bool,
}

/// Whose data a run, endpoint or cache entry is: the lab's (admin-submitted) or one
/// vendor's. Stored as text: `""` for the lab, `vendor:NAME` for a vendor.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Tenant {
    Lab,
    Vendor(String),
}

impl Tenant {
    pub fn to_stored(&self) -> String {
        match self {
            Tenant::Lab => String::new(),
            Tenant::Vendor(name) => format!("vendor:{name}"),
        }
    }

    pub fn from_stored(text: &str) -> Tenant {
        match text.strip_prefix("vendor:") {
            Some(name) => Tenant::Vendor(name.to_string()),
            None => Tenant::Lab,
        }
    }
}

impl Principal {
    /// The operator of an embedded coordinator (`jianzhen run`, tests), which listens on
    /// loopback only and has no tokens.
    pub fn local_admin() -> Principal {
        Principal {
            name: "local".to_string(),
            role: Role::Admin,
            trusted: true,
        }
    }

    /// The tenant this caller's runs and endpoints belong to.
    pub fn tenant(&self) -> Tenant {
        match self.role {
            Role::Vendor => Tenant::Vendor(self.name.clone()),
            Role::Admin | Role::Reviewer | Role::Worker => Tenant::Lab,
        }
    }

    /// Refuses a caller whose role is not in `allowed`, naming the roles that may.
    ///
    /// # Errors
    /// [`AuthError::Forbidden`].
    pub fn require(&self, action: &str, allowed: &[Role]) -> Result<(), AuthError> {
        if allowed.contains(&self.role) {
            return Ok(());
        }
        let roles: Vec<&str> = allowed.iter().map(|role| role.as_str()).collect();
        Err(AuthError::Forbidden(format!(
            "{action} needs the role {}; this token (`{}`) has the role {}",
            roles.join(" or "),
            self.name,
            self.role
        )))
    }

    /// Whether the caller may see a run owned by `owner`: the lab's roles see every run
    /// (reviewers read all reports; see docs/security.md), a vendor only its own.
    pub fn may_see_run(&self, owner: &Tenant) -> bool {
        match self.role {
            Role::Admin | Role::Reviewer => true,
            Role::Vendor => *owner == self.tenant(),
            Role::Worker => false,
        }
    }

    /// Whether report files with gold answers and per-item rows may go to this caller.
    pub fn sees_items(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Reviewer)
    }
}

/// Refusals, mapped to `UNAUTHENTICATED` and `PERMISSION_DENIED`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
}

impl From<AuthError> for tonic::Status {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Unauthenticated(message) => tonic::Status::unauthenticated(message),
            AuthError::Forbidden(message) => tonic::Status::permission_denied(message),
        }
    }
}

/// A new random token, shown once to the operator.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("jz_{}", hex::encode(bytes))
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// Reads the bearer token from a request's metadata.
///
/// # Errors
/// [`AuthError::Unauthenticated`] when there is none or it is malformed.
pub fn bearer_token(metadata: &tonic::metadata::MetadataMap) -> Result<String, AuthError> {
    let missing = || {
        AuthError::Unauthenticated(
            "this coordinator requires a token: set JIANZHEN_TOKEN or --token-file to a token from `jianzhen token create`".to_string(),
        )
    };
    let value = metadata.get("authorization").ok_or_else(missing)?;
    let text = value.to_str().map_err(|_| missing())?;
    let token = text
        .strip_prefix("Bearer ")
        .or_else(|| text.strip_prefix("bearer "))
        .ok_or_else(missing)?
        .trim();
    if !token.starts_with("jz_") || token.len() != 67 {
        return Err(AuthError::Unauthenticated(
            "the token is malformed; use the `jz_…` text `jianzhen token create` printed"
                .to_string(),
        ));
    }
    Ok(token.to_string())
}

/// Parses a lifetime such as `30d`, `12h`, `90m` into milliseconds.
///
/// # Errors
/// Text that is not a positive number with a unit.
pub fn parse_lifetime_ms(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let factor: i64 = match unit {
        "d" => 86_400_000,
        "h" => 3_600_000,
        "m" => 60_000,
        "s" => 1_000,
        _ => {
            return Err(format!(
                "`{text}` is not a lifetime; write e.g. 30d, 12h or 90m"
            ));
        }
    };
    let count: i64 = number
        .parse()
        .ok()
        .filter(|count| *count > 0)
        .ok_or_else(|| format!("`{text}` is not a lifetime; write e.g. 30d, 12h or 90m"))?;
    // Ten years at most: a token that outlives its holder's contract is a leak waiting.
    const MAX_LIFETIME_MS: i64 = 3650 * 86_400_000;
    count
        .checked_mul(factor)
        .filter(|lifetime| *lifetime <= MAX_LIFETIME_MS)
        .ok_or_else(|| format!("`{text}` is too long a lifetime; at most 3650d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let one = new_token();
        let two = new_token();
        assert_ne!(one, two);
        assert_eq!(one.len(), 67);
        let hash = token_hash(&one);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&one[3..]));
        assert_eq!(hash, token_hash(&format!(" {one}\n")));
    }

    #[test]
    fn roles_parse_and_refuse_with_the_needed_role() {
        assert_eq!("vendor".parse::<Role>(), Ok(Role::Vendor));
        assert!("root".parse::<Role>().is_err());
        let worker = Principal {
            name: "w1".into(),
            role: Role::Worker,
            trusted: false,
        };
        let error = worker
            .require("submitting a run", &[Role::Admin, Role::Vendor])
            .expect_err("a worker cannot submit");
        assert!(error.to_string().contains("admin or vendor"), "{error}");
    }

    #[test]
    fn vendors_see_only_their_own_runs() {
        let acme = Principal {
            name: "acme".into(),
            role: Role::Vendor,
            trusted: false,
        };
        assert!(acme.may_see_run(&Tenant::Vendor("acme".into())));
        assert!(!acme.may_see_run(&Tenant::Vendor("other".into())));
        assert!(!acme.may_see_run(&Tenant::Lab));
        assert!(!acme.sees_items());
        assert_eq!(
            Tenant::from_stored(&acme.tenant().to_stored()),
            acme.tenant()
        );
    }

    #[test]
    fn lifetimes_parse_and_bad_ones_are_refused() {
        assert_eq!(parse_lifetime_ms("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_lifetime_ms("2h"), Ok(7_200_000));
        for bad in ["", "d", "-1d", "1y", "99999999d", "1.5h"] {
            assert!(parse_lifetime_ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_from_metadata() {
        let token = new_token();
        let mut metadata = tonic::metadata::MetadataMap::new();
        assert!(matches!(
            bearer_token(&metadata),
            Err(AuthError::Unauthenticated(_))
        ));
        metadata.insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
        assert_eq!(bearer_token(&metadata).expect("token"), token);
        metadata.insert("authorization", "Bearer nope".parse().expect("ascii"));
        assert!(bearer_token(&metadata).is_err());
    }
}
