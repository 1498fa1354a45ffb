//! The refresh-token cookie: `HttpOnly` (no script can read it), `Secure`,
//! `SameSite=Strict` (not sent on cross-site requests) and scoped to `/auth`
//! (not sent to the API routes at all).

use http::HeaderMap;
use http::header::{COOKIE, HeaderValue, SET_COOKIE};

pub const NAME: &str = "cloudsec_refresh";

pub fn set(token: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!(
        "{NAME}={token}; Path=/auth; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        max_age_secs.max(0)
    );
    HeaderValue::try_from(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn clear(secure: bool) -> HeaderValue {
    set("", 0, secure)
}

pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

pub fn header() -> http::HeaderName {
    SET_COOKIE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_attributes_and_parsing() {
        let v = set("abc", 60, true);
        let s = v.to_str().unwrap();
        for attr in [
            "cloudsec_refresh=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/auth",
            "Max-Age=60",
        ] {
            assert!(s.contains(attr), "{s}");
        }
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; cloudsec_refresh=tok; b=2"),
        );
        assert_eq!(read(&h).as_deref(), Some("tok"));
    }
}
