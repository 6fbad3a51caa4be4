//! Phone numbers in international form, as people type them.

use std::fmt;

use super::jid::Jid;

/// Shortest and longest accepted phone numbers, in digits. 7 is
/// whatsapp-rust's lower bound; 15 is the E.164 maximum.
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// Why a text is not a phone number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("only digits, a leading '+', spaces, dashes, dots and parentheses are allowed")]
    BadCharacter,
    #[error("no digits")]
    Empty,
    #[error("must start with the country code, not 0")]
    LeadingZero,
    #[error("too short (at least 7 digits)")]
    TooShort,
    #[error("too long (at most 15 digits)")]
    TooLong,
}

/// A phone number in international form: digits only, country code first.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts `+`, spaces, dashes, dots and parentheses as decoration
    /// (`+1 (555) 123-4567`); anything else is an error, never silently
    /// dropped. The digits must start with the country code (no leading 0)
    /// and number 7 to 15.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        let mut digits = String::with_capacity(MAX_DIGITS);
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '+' if digits.is_empty() => {}
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(PhoneError::BadCharacter),
            }
        }
        if digits.is_empty() {
            return Err(PhoneError::Empty);
        }
        if digits.starts_with('0') {
            return Err(PhoneError::LeadingZero);
        }
        if digits.len() < MIN_DIGITS {
            return Err(PhoneError::TooShort);
        }
        if digits.len() > MAX_DIGITS {
            return Err(PhoneError::TooLong);
        }
        Ok(PhoneNumber(digits))
    }

    /// The bare digits, e.g. `15551234567`.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The account's JID, e.g. `15551234567@s.whatsapp.net`.
    pub fn jid(&self) -> Jid {
        Jid::pn(self.0.clone())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_are_validated_with_clear_errors() {
        assert_eq!(
            PhoneNumber::parse("+1 (555) 123-4567")
                .unwrap()
                .jid()
                .to_string(),
            "15551234567@s.whatsapp.net"
        );
        assert_eq!(
            PhoneNumber::parse("491701234567").unwrap().digits(),
            "491701234567"
        );
        for (bad, why) in [
            ("", "no digits"),
            ("+", "no digits"),
            ("123456", "too short"),
            ("1234567890123456", "too long"),
            ("05551234567", "country code"),
            ("1555abc4567", "only digits"),
            ("1555+1234567", "only digits"),
        ] {
            let err = PhoneNumber::parse(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad:?}: {err}");
        }
    }
}
