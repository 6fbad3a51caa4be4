//! The API key: kept as given, compared in constant time so it cannot be
//! guessed byte by byte from response times.

use subtle::ConstantTimeEq;

#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// None for an empty key (no key at all).
    pub fn new(key: &str) -> Option<ApiKey> {
        (!key.is_empty()).then(|| ApiKey(key.to_string()))
    }

    pub(super) fn matches(&self, presented: &str) -> bool {
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.write_str("ApiKey(..)")
    }
}
