//! User input, parsed once at the edge of the domain: handlers only ever see
//! valid values. Messages follow the RealWorld API ("can't be blank", ...).

/// A syntactically valid email address, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let email = raw.trim();
        if email.is_empty() {
            return Err("can't be blank");
        }
        if email.chars().count() > 254 {
            return Err("is too long (maximum is 254 characters)");
        }
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err("is invalid")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use platform::username::Username;

/// Optional profile text; empty means none.
pub fn parse_bio(raw: Option<String>) -> Result<Option<String>, &'static str> {
    match raw.map(|b| b.trim().to_owned()).filter(|b| !b.is_empty()) {
        Some(bio) if bio.chars().count() > 1000 => Err("is too long (maximum is 1000 characters)"),
        bio => Ok(bio),
    }
}

/// Optional avatar URL; empty means none. Only http(s), so no `javascript:` in an `<img src>`.
pub fn parse_image(raw: Option<String>) -> Result<Option<String>, &'static str> {
    match raw.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()) {
        None => Ok(None),
        Some(image) => {
            let ok = image.len() <= 2048
                && url::Url::parse(&image)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if ok {
                Ok(Some(image))
            } else {
                Err("is invalid")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" jake@jake.jake ").unwrap().as_str(),
            "jake@jake.jake"
        );
        assert_eq!(Email::parse("").unwrap_err(), "can't be blank");
        for bad in [
            "jake",
            "@x.com",
            "jake@",
            "jake@x",
            "a@b@c.com",
            "ja ke@x.com",
            "jake@.com",
        ] {
            assert_eq!(Email::parse(bad).unwrap_err(), "is invalid", "{bad}");
        }
    }

    #[test]
    fn bio_and_image_normalise_empty_to_none() {
        assert_eq!(parse_bio(Some(String::new())).unwrap(), None);
        assert_eq!(parse_bio(Some("hi".into())).unwrap(), Some("hi".into()));
        assert_eq!(parse_image(Some(String::new())).unwrap(), None);
        assert!(
            parse_image(Some("https://example.com/a.jpg".into()))
                .unwrap()
                .is_some()
        );
        assert!(parse_image(Some("javascript:alert(1)".into())).is_err());
    }
}
