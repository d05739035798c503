//! Secrets (API keys, session tokens, passwords): generated, digested, and never printed.

use std::fmt;

use rand::RngExt;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// A secret string whose `Debug` output is redacted, so it cannot leak into logs through a
/// `{:?}` of a struct that holds it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that must see it (hashing, a response shown once).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 digest stored in place of a token. Tokens are long and random, so a fast hash
    /// is enough (passwords, which are neither, get Argon2id instead).
    pub fn digest(&self) -> Vec<u8> {
        Sha256::digest(self.0.as_bytes()).to_vec()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(redacted)")
    }
}

/// A random token: `prefix` then `length` base62 characters from the thread's CSPRNG.
pub(crate) fn random_token(prefix: &str, length: usize) -> Secret {
    let body: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(length)
        .map(char::from)
        .collect();
    Secret(format!("{prefix}{body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secret() {
        let secret = Secret::new("lb_hunter2hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn random_tokens_are_base62_after_the_prefix_and_differ() {
        let a = random_token("lb_", 40);
        let b = random_token("lb_", 40);
        assert_eq!(a.expose().len(), 43);
        assert!(a.expose()[3..].chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }
}
