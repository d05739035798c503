//! Showing a new API key once, on the page the creating form redirects to.
//!
//! The store keeps only a key's digest, so the key can be shown only by the request that made
//! it. To answer that POST with a redirect (so that reloading the page shows it, and does not
//! make a second key), the key travels to the next page in a cookie, sealed: encrypted and
//! authenticated (ChaCha20-Poly1305) under a key derived from the session's token, which only
//! the browser holds (in its `HttpOnly` session cookie; the server keeps its digest). The cookie
//! is sent only to `/keys`, lives a minute, and the page that opens it clears it. A copy of the
//! cookie is worthless without the session cookie, and whoever has that can make keys anyway.

use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Generate, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use lyrebird_store::Secret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::auth::cookies::{self, REVEAL_COOKIE};

/// How long the sealed key waits for its page, in seconds.
const MAX_AGE_SECONDS: i64 = 60;

/// The key that seals what one session's next page shows; derived from the session's token.
#[derive(Clone)]
pub struct RevealKey([u8; 32]);

impl std::fmt::Debug for RevealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevealKey(..)")
    }
}

/// A key just made, as its page shows it once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub name: String,
    pub scope: String,
    pub api_key: String,
}

/// What the cookie seals: the key and when it was sealed, so that a copy of the cookie opens for
/// a minute only, whatever the browser does with its `Max-Age`.
#[derive(Serialize, Deserialize)]
struct Sealed {
    key: NewKey,
    /// Unix seconds.
    sealed_at: i64,
}

impl RevealKey {
    pub fn of(session_token: &Secret) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"lyrebird key reveal\0");
        hasher.update(session_token.expose().as_bytes());
        Self(hasher.finalize().into())
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }

    /// The `Set-Cookie` value carrying `key`, sealed, to the keys page.
    pub fn seal(&self, key: &NewKey, secure: bool) -> HeaderValue {
        let nonce = Nonce::generate();
        let sealed = Sealed {
            key: key.clone(),
            sealed_at: time::OffsetDateTime::now_utc().unix_timestamp(),
        };
        let plain = serde_json::to_vec(&sealed).expect("a new key serialises");
        let sealed = self
            .cipher()
            .encrypt(&nonce, plain.as_slice())
            .expect("sealing a short text cannot fail");
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        cookie(&URL_SAFE_NO_PAD.encode(bytes), MAX_AGE_SECONDS, secure)
    }

    /// The key the request's cookie carries, when it was sealed for this session less than a
    /// minute ago.
    pub fn open(&self, headers: &HeaderMap) -> Option<NewKey> {
        self.open_at(headers, time::OffsetDateTime::now_utc().unix_timestamp())
    }

    /// [`RevealKey::open`] at `now` (Unix seconds).
    fn open_at(&self, headers: &HeaderMap, now: i64) -> Option<NewKey> {
        let bytes = URL_SAFE_NO_PAD
            .decode(cookies::read(headers, REVEAL_COOKIE)?)
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce = Nonce::try_from(nonce).ok()?;
        let plain = self.cipher().decrypt(&nonce, sealed).ok()?;
        let sealed: Sealed = serde_json::from_slice(&plain).ok()?;
        (0..=MAX_AGE_SECONDS)
            .contains(&(now - sealed.sealed_at))
            .then_some(sealed.key)
    }
}

/// Whether the request carries a sealed key (opened or not, it is cleared once seen).
pub fn carried(headers: &HeaderMap) -> bool {
    cookies::read(headers, REVEAL_COOKIE).is_some()
}

/// The `Set-Cookie` value that clears the sealed key.
pub fn cleared() -> HeaderValue {
    cookie("", 0, false)
}

fn cookie(value: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{REVEAL_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/keys; Max-Age={max_age_seconds}{secure}"
    ))
    .expect("the sealed key is URL-safe base64")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::cookies::sent_back;

    #[test]
    fn a_sealed_key_opens_only_for_its_session() {
        let key = NewKey {
            name: "ci".into(),
            scope: "mock".into(),
            api_key: "lb_secret".into(),
        };
        let mine = RevealKey::of(&Secret::new("session-a"));
        let cookie = mine.seal(&key, false);
        assert!(!cookie.to_str().unwrap().contains("lb_secret"));
        assert_eq!(mine.open(&sent_back(&cookie)), Some(key));
        let theirs = RevealKey::of(&Secret::new("session-b"));
        assert_eq!(theirs.open(&sent_back(&cookie)), None);
        let later = time::OffsetDateTime::now_utc().unix_timestamp() + MAX_AGE_SECONDS + 1;
        assert_eq!(
            mine.open_at(&sent_back(&cookie), later),
            None,
            "a minute later"
        );
    }
}
