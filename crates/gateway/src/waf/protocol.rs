//! Protocol anomalies in the request head: methods nobody here serves,
//! request-smuggling framing, a missing `Host`, and URLs whose encoding is
//! malformed or not UTF-8. Sizes are the `limits` layer's job (414/431/413).
//!
//! hyper's HTTP/1 parser is the first line against bad framing: it answers
//! 400 to differing Content-Lengths, a final encoding other than chunked and
//! Transfer-Encoding on HTTP/1.0, and for Content-Length *with*
//! Transfer-Encoding it drops the length and closes the connection after the
//! response. The framing checks here catch what it lets through (`chunked`
//! listed with other codings) and stay correct whatever parses the head.

use http::request::Parts;
use http::{Method, Version, header};

/// The id of the first anomaly in `head`, if any.
pub fn anomaly(head: &Parts) -> Option<&'static str> {
    if !matches!(
        head.method,
        Method::GET
            | Method::HEAD
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::OPTIONS
    ) {
        return Some("protocol-method");
    }
    let headers = &head.headers;
    let lengths = headers.get_all(header::CONTENT_LENGTH).iter().count();
    let encodings: Vec<_> = headers.get_all(header::TRANSFER_ENCODING).iter().collect();
    // Both framings, several lengths, or an encoding other than plain
    // `chunked`: the classic request-smuggling setups (RFC 9112 §6.3).
    if lengths > 1
        || (lengths == 1 && !encodings.is_empty())
        || encodings.len() > 1
        || encodings
            .first()
            .is_some_and(|te| !te.as_bytes().eq_ignore_ascii_case(b"chunked"))
    {
        return Some("protocol-request-smuggling");
    }
    if head.version == Version::HTTP_11 && !headers.contains_key(header::HOST) {
        return Some("protocol-missing-host");
    }
    let path = head.uri.path();
    let query = head.uri.query().unwrap_or("");
    for part in [path, query] {
        if !percent_encoding_is_wellformed(part) {
            return Some("protocol-bad-percent-encoding");
        }
        // Without a `%` the part is the `str` it already is.
        if part.contains('%')
            && std::str::from_utf8(&percent_encoding::percent_decode_str(part).collect::<Vec<u8>>())
                .is_err()
        {
            return Some("protocol-invalid-utf8");
        }
    }
    None
}

/// Every `%` is followed by two hex digits.
fn percent_encoding_is_wellformed(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b'%')
        .all(|(i, _)| {
            bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(method: &str, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn ordinary_requests_pass() {
        let h = head("GET", "/api/articles?tag=caf%C3%A9", &[("host", "x")]);
        assert_eq!(anomaly(&h), None);
        let h = head(
            "POST",
            "/api/users",
            &[("host", "x"), ("transfer-encoding", "chunked")],
        );
        assert_eq!(anomaly(&h), None);
    }

    #[test]
    fn anomalies_are_named() {
        let host = ("host", "x");
        let cases = [
            (head("TRACE", "/", &[host]), "protocol-method"),
            (
                head(
                    "POST",
                    "/",
                    &[
                        host,
                        ("content-length", "5"),
                        ("transfer-encoding", "chunked"),
                    ],
                ),
                "protocol-request-smuggling",
            ),
            (
                head(
                    "POST",
                    "/",
                    &[host, ("transfer-encoding", "chunked, identity")],
                ),
                "protocol-request-smuggling",
            ),
            (head("GET", "/", &[]), "protocol-missing-host"),
            (
                head("GET", "/a%zz", &[host]),
                "protocol-bad-percent-encoding",
            ),
            (
                head("GET", "/?q=%u0027", &[host]),
                "protocol-bad-percent-encoding",
            ),
            (
                head("GET", "/%c0%ae%c0%ae/", &[host]),
                "protocol-invalid-utf8",
            ),
        ];
        for (h, id) in cases {
            assert_eq!(anomaly(&h), Some(id), "{} {}", h.method, h.uri);
        }
    }
}
