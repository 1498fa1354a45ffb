//! The Conduit domain's values, parsed once at the handler's edge: a value
//! of one of these types is known good (present, non-blank, within the
//! configured limits, in the shape the store expects), so nothing past the
//! handler checks it again. Usernames have their own type, shared with auth
//! (`platform::username`).

use crate::config::Limits;
use crate::error::{Error, Result};

/// A required text field: present, not blank, at most `max_chars`.
fn required(value: Option<String>, field: &'static str, max_chars: usize) -> Result<String> {
    let value = value.unwrap_or_default();
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "can't be blank"));
    }
    within(&value, field, max_chars)?;
    Ok(value)
}

fn within(value: &str, field: &'static str, max_chars: usize) -> Result<()> {
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("is too long (maximum is {max_chars} characters)"),
        ));
    }
    Ok(())
}

/// A required text field as a type of its own: the RealWorld field name it
/// is reported under and the `business.limits` key that bounds it.
macro_rules! required_text {
    ($(#[$doc:meta])* $name:ident, $field:literal, $limit:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Present and not blank, within its limit; else 422 naming the field.
            pub fn parse(raw: Option<String>, limits: &Limits) -> Result<Self> {
                required(raw, $field, limits.$limit).map(Self)
            }

            /// An optional replacement (an update): present means non-blank.
            pub fn parse_change(raw: Option<Option<String>>, limits: &Limits) -> Result<Option<Self>> {
                raw.map(|value| Self::parse(value, limits)).transpose()
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

required_text!(
    /// An article's title.
    Title, "title", title_chars
);
required_text!(
    /// An article's description.
    Description, "description", description_chars
);
required_text!(
    /// An article's body: markdown.
    ArticleBody, "body", body_chars
);
required_text!(
    /// A comment's body.
    CommentBody, "body", comment_chars
);

/// One tag: trimmed, not empty, at most `business.limits.tag_chars`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag(String);

impl Tag {
    pub fn parse(raw: &str, limits: &Limits) -> Result<Self> {
        let tag = raw.trim();
        if tag.is_empty() {
            return Err(Error::invalid("tagList", "can't be blank"));
        }
        within(tag, "tagList", limits.tag_chars)?;
        Ok(Self(tag.to_owned()))
    }
}

impl From<Tag> for String {
    fn from(tag: Tag) -> String {
        tag.0
    }
}

/// An article's `tagList`: each a [`Tag`], empty entries dropped, duplicates
/// removed (the first kept), at most `business.limits.tags_per_article`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(Vec<String>);

impl Tags {
    pub fn parse(list: Vec<String>, limits: &Limits) -> Result<Self> {
        let mut tags: Vec<String> = Vec::with_capacity(list.len());
        for raw in list {
            if raw.trim().is_empty() {
                continue;
            }
            let tag = String::from(Tag::parse(&raw, limits)?);
            if !tags.contains(&tag) {
                // Refused at the first tag too many: the duplicate check
                // never runs over more than the limit.
                if tags.len() == limits.tags_per_article {
                    return Err(Error::invalid(
                        "tagList",
                        format!("has too many tags (maximum is {})", limits.tags_per_article),
                    ));
                }
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

impl From<Tags> for Vec<String> {
    fn from(tags: Tags) -> Vec<String> {
        tags.0
    }
}

/// An article's slug: lowercase letters and digits joined by `-`, from its
/// title, with a random suffix so that equal titles get distinct slugs
/// without a lookup: `How to train your dragon` →
/// `how-to-train-your-dragon-k3j9x2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slug(String);

impl Slug {
    /// Longest slug [`Slug::for_title`] makes (80 + `-` + 6) is well within.
    pub const MAX_CHARS: usize = 100;
    /// Characters of the title kept, at most.
    const BASE_CHARS: usize = 80;

    /// A slug from a request path, if it is one that could have been made:
    /// anything else names no article, answered 404 without a lookup.
    pub fn parse(raw: &str) -> Option<Self> {
        let shaped = !raw.is_empty()
            && raw.chars().count() <= Self::MAX_CHARS
            && raw.chars().all(|c| c.is_alphanumeric() || c == '-');
        shaped.then(|| Self(raw.to_owned()))
    }

    pub fn for_title(title: &Title) -> Self {
        let mut base = String::with_capacity(title.as_str().len());
        for c in title.as_str().chars().flat_map(char::to_lowercase) {
            if c.is_alphanumeric() {
                base.push(c);
            } else if !base.is_empty() && !base.ends_with('-') {
                base.push('-');
            }
            if base.chars().count() >= Self::BASE_CHARS {
                break;
            }
        }
        let base = base.trim_end_matches('-');
        let base = if base.is_empty() { "article" } else { base };
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let suffix: String = platform::secrets::crypto::random_bytes::<6>()
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        Self(format!("{base}-{suffix}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> String {
        slug.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(text: &str) -> Title {
        Title::parse(Some(text.to_owned()), &Limits::default()).unwrap()
    }

    #[test]
    fn slugs_are_url_safe_distinct_and_parse_back() {
        let a = Slug::for_title(&title("How to train your dragon?!"));
        assert!(a.as_str().starts_with("how-to-train-your-dragon-"), "{a:?}");
        assert_ne!(a, Slug::for_title(&title("How to train your dragon?!")));
        assert!(
            Slug::for_title(&title("???"))
                .as_str()
                .starts_with("article-")
        );
        let unicode = Slug::for_title(&title("Ünïcödé titles"));
        assert!(unicode.as_str().starts_with("ünïcödé-titles-"));
        let long = Slug::for_title(&title(&"x".repeat(200)));
        for made in [a, unicode, long] {
            assert_eq!(Slug::parse(made.as_str()), Some(made));
        }
        assert!(
            !Slug::for_title(&title("../../etc/passwd"))
                .as_str()
                .contains('/')
        );
        for bad in ["", "a b", "a/b", "a'b", "..", &"x".repeat(101)] {
            assert_eq!(Slug::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tags_are_cleaned_and_bounded() {
        let limits = Limits::default();
        let tags = Tags::parse(
            vec![" a ".into(), "b".into(), "a".into(), "".into()],
            &limits,
        );
        assert_eq!(tags.unwrap().as_slice(), ["a", "b"]);
        assert!(Tags::parse((0..21).map(|i| i.to_string()).collect(), &limits).is_err());
        assert!(Tags::parse(vec!["x".repeat(65)], &limits).is_err());
        assert!(Tag::parse("  ", &limits).is_err());
    }

    #[test]
    fn required_fields_name_themselves() {
        let limits = Limits {
            title_chars: 10,
            ..Limits::default()
        };
        for (raw, message) in [
            (Some("  ".to_owned()), "can't be blank"),
            (None, "can't be blank"),
            (
                Some("x".repeat(11)),
                "is too long (maximum is 10 characters)",
            ),
        ] {
            match Title::parse(raw, &limits) {
                Err(Error::Invalid { field, message: m }) => {
                    assert_eq!((field.as_str(), m.as_str()), ("title", message));
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(title("ok").as_str(), "ok");
        assert_eq!(Title::parse_change(None, &limits).unwrap(), None);
        assert!(Title::parse_change(Some(None), &limits).is_err());
        let comment = CommentBody::parse(Some("x".repeat(9000)), &limits);
        assert!(matches!(comment, Err(Error::Invalid { field, .. }) if field == "body"));
    }
}
