//! Security headers on every response the gateway sends, upstream or its own
//! (an upstream's own value for a header wins, except HSTS: TLS is the
//! gateway's business).
//!
//! Two sets. The web UI's pages and assets get the document policy: what a
//! page may load, no framing, no opener, no powerful features. API answers
//! get the set OWASP's REST Security Cheat Sheet gives for APIs: a policy
//! under which a JSON answer opened as a page loads nothing and is framed by
//! no one, `nosniff`, `DENY`, no referrer. The document-only headers
//! (`Cross-Origin-Opener-Policy`, `Permissions-Policy`) mean nothing on JSON
//! and stay off API answers: 300 bytes less on each.

use http::header::{
    CONTENT_SECURITY_POLICY, HeaderMap, HeaderName, HeaderValue, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};

/// Which set a response gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    /// The web UI: its pages and their assets, under the export's policy
    /// ([`crate::static_files::Frontend::policy`]).
    Document(&'a HeaderValue),
    /// Everything else: the APIs' answers and the gateway's own refusals.
    Api,
}

/// Built once (a `HeaderValue` checks every byte of its text when made).
static DOCUMENT: [(HeaderName, HeaderValue); 5] = [
    (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    ),
    (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    ),
    (
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    ),
];

static API: [(HeaderName, HeaderValue); 4] = [
    (X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
    (REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    (X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    ),
];

pub fn add(headers: &mut HeaderMap, kind: Kind, tls: bool) {
    let set: &[(HeaderName, HeaderValue)] = match kind {
        Kind::Document(_) => &DOCUMENT,
        Kind::Api => &API,
    };
    headers.reserve(set.len() + 2);
    for (name, value) in set {
        headers.entry(name).or_insert_with(|| value.clone());
    }
    if let Kind::Document(policy) = kind {
        headers
            .entry(CONTENT_SECURITY_POLICY)
            .or_insert_with(|| policy.clone());
    }
    if tls {
        headers.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_answers_load_nothing_and_documents_only_their_own_origin() {
        let mut api = HeaderMap::new();
        add(&mut api, Kind::Api, false);
        assert_eq!(
            api[CONTENT_SECURITY_POLICY],
            "default-src 'none'; frame-ancestors 'none'"
        );
        assert_eq!(api[REFERRER_POLICY], "no-referrer");
        assert!(api.get("permissions-policy").is_none());
        assert!(api.get(STRICT_TRANSPORT_SECURITY).is_none(), "no TLS");

        let mut page = HeaderMap::new();
        page.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        let policy = crate::static_files::document_policy(&[]);
        add(&mut page, Kind::Document(&policy), true);
        assert!(
            page[CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .starts_with("default-src 'self'")
        );
        assert_eq!(page["cross-origin-opener-policy"], "same-origin");
        assert_eq!(
            page[X_FRAME_OPTIONS], "SAMEORIGIN",
            "the upstream's own wins"
        );
        assert!(page.contains_key(STRICT_TRANSPORT_SECURITY));
    }
}
