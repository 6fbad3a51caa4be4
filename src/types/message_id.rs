//! Message ids: opaque strings chosen by the sender, unique per sender.

use std::fmt;

/// A message's id as stanzas carry it (`<message id=...>`).
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    /// A new id in WhatsApp Web's style: `3EB0` and 16 hex digits
    /// (whatsmeow `GenerateMessageID` uses the same prefix).
    pub fn generate() -> MessageId {
        MessageId(format!("3EB0{:016X}", rand::random::<u64>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl From<String> for MessageId {
    fn from(id: String) -> Self {
        MessageId(id)
    }
}

impl From<&str> for MessageId {
    fn from(id: &str) -> Self {
        MessageId(id.to_string())
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for MessageId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for MessageId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for MessageId {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<MessageId> for String {
    fn eq(&self, other: &MessageId) -> bool {
        *self == other.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_look_like_web_ids_and_differ() {
        let (a, b) = (MessageId::generate(), MessageId::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 20);
        assert!(a.as_str().starts_with("3EB0"));
        assert!(a.as_str()[4..].bytes().all(|c| c.is_ascii_hexdigit()));
    }
}
