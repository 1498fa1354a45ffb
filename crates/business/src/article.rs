//! Article input, parsed once: required fields present and non-blank, within
//! the configured limits; tags trimmed, de-duplicated, bounded. And slugs.

use crate::config::Limits;
use crate::error::{Error, Result};

/// A required text field (title, description, body, comment body).
pub fn required(value: Option<String>, field: &'static str, max_chars: usize) -> Result<String> {
    let value = value.unwrap_or_default();
    if value.trim().is_empty() {
        return Err(Error::invalid(field, "can't be blank"));
    }
    check_length(&value, field, max_chars)?;
    Ok(value)
}

/// An optional replacement for a required field: present means non-blank.
pub fn replacement(
    value: Option<Option<String>>,
    field: &'static str,
    max_chars: usize,
) -> Result<Option<String>> {
    match value {
        None => Ok(None),
        Some(v) => required(v, field, max_chars).map(Some),
    }
}

fn check_length(value: &str, field: &'static str, max_chars: usize) -> Result<()> {
    if value.chars().count() > max_chars {
        return Err(Error::invalid(
            field,
            format!("is too long (maximum is {max_chars} characters)"),
        ));
    }
    Ok(())
}

/// `tagList`: trimmed, empty entries dropped, duplicates removed (first wins).
pub fn tags(list: Vec<String>, limits: &Limits) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for tag in list {
        let tag = tag.trim().to_owned();
        if tag.is_empty() || out.contains(&tag) {
            continue;
        }
        check_length(&tag, "tagList", limits.tag_chars)?;
        out.push(tag);
    }
    if out.len() > limits.tags_per_article {
        return Err(Error::invalid(
            "tagList",
            format!("has too many tags (maximum is {})", limits.tags_per_article),
        ));
    }
    Ok(out)
}

/// A URL-safe slug from the title plus a random suffix, so equal titles get
/// distinct slugs without a lookup: `How to train your dragon` →
/// `how-to-train-your-dragon-k3j9x2`.
pub fn slug(title: &str) -> String {
    let mut base = String::with_capacity(title.len());
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            base.push(c);
        } else if !base.is_empty() && !base.ends_with('-') {
            base.push('-');
        }
        if base.chars().count() >= 80 {
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
    format!("{base}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe_and_distinct() {
        let a = slug("How to train your dragon?!");
        assert!(a.starts_with("how-to-train-your-dragon-"), "{a}");
        assert_ne!(a, slug("How to train your dragon?!"));
        assert!(slug("???").starts_with("article-"));
        assert!(slug("Ünïcödé titles").starts_with("ünïcödé-titles-"));
        assert!(!slug("../../etc/passwd").contains('/'));
    }

    #[test]
    fn tags_are_cleaned_and_bounded() {
        let limits = Limits::default();
        assert_eq!(
            tags(
                vec![" a ".into(), "b".into(), "a".into(), "".into()],
                &limits
            )
            .unwrap(),
            vec!["a", "b"]
        );
        assert!(tags((0..21).map(|i| i.to_string()).collect(), &limits).is_err());
    }

    #[test]
    fn required_fields() {
        assert!(required(Some("  ".into()), "title", 10).is_err());
        assert!(required(None, "title", 10).is_err());
        assert!(required(Some("x".repeat(11)), "title", 10).is_err());
        assert_eq!(required(Some("ok".into()), "title", 10).unwrap(), "ok");
    }
}
