//! Usernames, parsed by one set of rules wherever one arrives: registration
//! and profile changes (auth) and path parameters (business, before any
//! lookup: a name that could not be registered cannot be looked up, so a
//! `,`-separated list never reaches auth's batch lookup).
//!
//! A name is NFKC-normalized (full-width `ａｌｉｃｅ` is `alice`) and keeps
//! letters, digits, `_`, `-` and `.` only, since it appears in URLs. Its
//! [`Username::skeleton`] (Unicode TR39, of the lowercase name) tells names
//! that look alike: `аlice` with a Cyrillic `а`, `ALICE` and `a1ice` are not
//! `alice`, but they look like it, and auth keeps skeletons unique.

use unicode_normalization::UnicodeNormalization as _;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MAX_CHARS: usize = 64;

    /// The name, or the RealWorld-style message saying why not.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name: String = raw.trim().nfkc().collect();
        if name.is_empty() {
            return Err("can't be blank".into());
        }
        if name.chars().count() > Self::MAX_CHARS {
            return Err(format!(
                "is too long (maximum is {} characters)",
                Self::MAX_CHARS
            ));
        }
        if !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err("is invalid".into());
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the name looks like: equal for names a reader cannot tell apart.
    pub fn skeleton(&self) -> String {
        let lower = self.0.to_lowercase();
        unicode_security::skeleton(&lower).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_one_set_of_rules() {
        assert!(Username::parse("auth_123_upd").is_ok());
        assert!(Username::parse("jöran.b-1").is_ok());
        assert_eq!(Username::parse("  ").unwrap_err(), "can't be blank");
        assert_eq!(Username::parse("a/b").unwrap_err(), "is invalid");
        assert_eq!(Username::parse("u0,u1,u2").unwrap_err(), "is invalid");
        assert_eq!(Username::parse("<script>").unwrap_err(), "is invalid");
        assert!(
            Username::parse(&"x".repeat(65))
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn compatibility_forms_are_the_plain_name() {
        assert_eq!(Username::parse("ａｌｉｃｅ").unwrap().as_str(), "alice");
        // "ﬁ" (a ligature) is "fi".
        assert_eq!(Username::parse("ﬁona").unwrap().as_str(), "fiona");
    }

    #[test]
    fn names_that_look_alike_share_a_skeleton() {
        let skeleton = |s: &str| Username::parse(s).unwrap().skeleton();
        let alice = skeleton("alice");
        assert_eq!(skeleton("\u{430}lice"), alice, "Cyrillic а");
        assert_eq!(skeleton("ALICE"), alice);
        assert_eq!(skeleton("a1ice"), alice, "digit one for l");
        assert_ne!(skeleton("alicia"), alice);
        assert_ne!(skeleton("bob"), alice);
    }
}
