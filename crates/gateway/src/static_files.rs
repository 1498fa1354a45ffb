//! The frontend's static export, SPA-aware: a path that is not a file gets
//! `index.html`, so client-side routes survive a reload. Hashed build assets
//! (`/_next/static/…`) are cached for a year as immutable; everything else is
//! revalidated on each use, so a new deployment shows at once. Responses are
//! compressed (brotli or gzip, as the client accepts), from precompressed
//! `.br`/`.gz` siblings when the export ships them.
//!
//! The export's pages may carry inline scripts (Next.js emits a few to boot
//! the app). Rather than allow inline scripts at large, the pages' policy
//! lists each one by its SHA-256, read from the export's HTML when the gateway
//! starts: a script injected into a page matches no hash and does not run.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::header::{CACHE_CONTROL, HeaderValue};
use platform::http::problem::Problem;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::services::{ServeDir, ServeFile};

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const REVALIDATE: HeaderValue = HeaderValue::from_static("no-cache");

/// Scripts and styles only from the platform's own origin (plus the export's
/// own inline scripts, by hash); no framing, no plugins, no `eval`.
const DOCUMENT_POLICY: [&str; 2] = [
    "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; script-src 'self'",
    "; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
];

/// The web UI's export: where its files are and the policy its pages run under.
#[derive(Debug, Clone)]
pub struct Frontend {
    dir: PathBuf,
    policy: HeaderValue,
    inline_scripts: usize,
}

impl Frontend {
    /// Reads the export's pages for their inline scripts.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut hashes = std::collections::BTreeSet::new();
        for page in html_files(dir)? {
            let html = std::fs::read(&page).map_err(|e| {
                anyhow::anyhow!("gateway.static_dir: reading {}: {e}", page.display())
            })?;
            hashes.extend(inline_scripts(&html).into_iter().map(sha256));
        }
        Ok(Self {
            dir: dir.to_owned(),
            inline_scripts: hashes.len(),
            policy: document_policy(&hashes.into_iter().collect::<Vec<_>>()),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The Content-Security-Policy of the export's pages.
    pub fn policy(&self) -> &HeaderValue {
        &self.policy
    }

    /// How many distinct inline scripts the policy allows.
    pub fn inline_scripts(&self) -> usize {
        self.inline_scripts
    }
}

/// The pages' policy, allowing the given inline-script hashes (`sha256-…`).
pub fn document_policy(hashes: &[String]) -> HeaderValue {
    let mut policy = String::from(DOCUMENT_POLICY[0]);
    for hash in hashes {
        policy.push_str(" '");
        policy.push_str(hash);
        policy.push('\'');
    }
    policy.push_str(DOCUMENT_POLICY[1]);
    // Hashes are base64 and the rest is ASCII: always a valid header value.
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'self'"))
}

fn sha256(script: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, script);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// Every `.html` file under `dir`.
fn html_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut pages = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).map_err(|e| {
            anyhow::anyhow!("gateway.static_dir: reading {}: {e}", folder.display())
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind) if kind.is_file() && path.extension().is_some_and(|e| e == "html") => {
                    pages.push(path);
                }
                _ => {}
            }
        }
    }
    Ok(pages)
}

/// The bodies of the inline scripts a browser would run: `<script>` elements
/// without `src` whose `type` is absent or JavaScript (a JSON data block runs
/// nothing and needs no hash). Script bodies cannot contain `</script`, so
/// the scan needs no HTML parser.
fn inline_scripts(html: &[u8]) -> Vec<&[u8]> {
    let lower = html.to_ascii_lowercase();
    let mut scripts = Vec::new();
    let mut at = 0;
    while let Some(start) = find(&lower[at..], b"<script").map(|i| at + i) {
        let after_name = start + b"<script".len();
        let Some(tag_end) = find(&lower[after_name..], b">").map(|i| after_name + i) else {
            break;
        };
        let attributes = &lower[after_name..tag_end];
        let Some(close) = find(&lower[tag_end..], b"</script").map(|i| tag_end + i) else {
            break;
        };
        if matches!(
            lower.get(after_name),
            Some(b'>' | b' ' | b'\t' | b'\n' | b'\r' | b'/')
        ) && !has_attribute(attributes, b"src")
            && runs_as_javascript(attributes)
        {
            scripts.push(&html[tag_end + 1..close]);
        }
        at = close + b"</script".len();
    }
    scripts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Whether `name` is one of the (lowercased) tag's attributes.
fn has_attribute(attributes: &[u8], name: &[u8]) -> bool {
    attribute_value(attributes, name).is_some()
}

/// The value of attribute `name` (empty for a bare attribute).
fn attribute_value<'a>(attributes: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut rest = attributes;
    loop {
        let start = rest
            .iter()
            .position(|b| !b.is_ascii_whitespace() && *b != b'/')?;
        rest = &rest[start..];
        let end = rest
            .iter()
            .position(|b| b.is_ascii_whitespace() || *b == b'=' || *b == b'/')
            .unwrap_or(rest.len());
        let (attribute, tail) = rest.split_at(end);
        let (value, tail) = match tail.strip_prefix(b"=") {
            Some(tail) => match tail.first() {
                Some(quote @ (b'"' | b'\'')) => {
                    let body = &tail[1..];
                    let close = body.iter().position(|b| b == quote).unwrap_or(body.len());
                    (&body[..close], body.get(close + 1..).unwrap_or_default())
                }
                _ => {
                    let close = tail
                        .iter()
                        .position(u8::is_ascii_whitespace)
                        .unwrap_or(tail.len());
                    (&tail[..close], &tail[close..])
                }
            },
            None => (&b""[..], tail),
        };
        if attribute == name {
            return Some(value);
        }
        rest = tail;
    }
}

/// No `type`, or one of the JavaScript types (or `module`).
fn runs_as_javascript(attributes: &[u8]) -> bool {
    match attribute_value(attributes, b"type") {
        None => true,
        Some(kind) => matches!(
            kind.trim_ascii(),
            b"" | b"module" | b"text/javascript" | b"application/javascript" | b"text/ecmascript"
        ),
    }
}

pub async fn serve(frontend: Option<&Frontend>, request: Request) -> Response {
    let dir = frontend.map(Frontend::dir);
    let hashed_asset = request.uri().path().starts_with("/_next/static/");
    let mut response = match dir {
        Some(dir) => {
            let index = ServeFile::new(dir.join("index.html"))
                .precompressed_br()
                .precompressed_gzip();
            let files = ServeDir::new(dir)
                .precompressed_br()
                .precompressed_gzip()
                .fallback(index);
            let spa = ServiceBuilder::new()
                .layer(CompressionLayer::new())
                .service(files);
            match spa.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            }
        }
        None => Problem::new(
            StatusCode::NOT_FOUND,
            Some("no frontend is configured (gateway.static_dir)".to_owned()),
        )
        .into_response(),
    };
    if response.status().is_success() {
        let policy = if hashed_asset { IMMUTABLE } else { REVALIDATE };
        response.headers_mut().insert(CACHE_CONTROL, policy);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};
    use http_body_util::BodyExt;

    async fn get(dir: &Path, path: &str, encoding: Option<&str>) -> Response {
        let mut request = Request::get(path).body(Body::empty()).unwrap();
        if let Some(encoding) = encoding {
            request
                .headers_mut()
                .insert(ACCEPT_ENCODING, HeaderValue::from_str(encoding).unwrap());
        }
        let frontend = Frontend::load(dir).unwrap();
        serve(Some(&frontend), request).await
    }

    #[tokio::test]
    async fn spa_fallback_caching_and_compression() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            "<!doctype html><div id=app></div>",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("_next/static/chunks")).unwrap();
        let script = "console.log('conduit');\n".repeat(200);
        std::fs::write(
            dir.path().join("_next/static/chunks/app-3f9a1c.js"),
            &script,
        )
        .unwrap();

        // A client-side route gets the app shell, revalidated on each use.
        let route = get(dir.path(), "/article/how-to-train-your-dragon", None).await;
        assert_eq!(route.status(), 200);
        assert_eq!(route.headers()[CACHE_CONTROL], "no-cache");
        let body = route.into_body().collect().await.unwrap().to_bytes();
        assert!(std::str::from_utf8(&body).unwrap().contains("id=app"));

        // A hashed asset: immutable for a year, compressed as accepted.
        let asset = get(
            dir.path(),
            "/_next/static/chunks/app-3f9a1c.js",
            Some("br, gzip"),
        )
        .await;
        assert_eq!(asset.status(), 200);
        assert_eq!(
            asset.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(asset.headers()[CONTENT_ENCODING], "br");
        assert!(
            asset.headers()[CONTENT_TYPE]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
        let compressed = asset.into_body().collect().await.unwrap().to_bytes();
        assert!(
            compressed.len() < script.len() / 10,
            "{} bytes",
            compressed.len()
        );

        let gzip = get(
            dir.path(),
            "/_next/static/chunks/app-3f9a1c.js",
            Some("gzip"),
        )
        .await;
        assert_eq!(gzip.headers()[CONTENT_ENCODING], "gzip");
        let plain = get(dir.path(), "/_next/static/chunks/app-3f9a1c.js", None).await;
        assert!(plain.headers().get(CONTENT_ENCODING).is_none());
    }

    #[test]
    fn the_policy_lists_the_export_inline_scripts_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("index.html"),
            concat!(
                "<!DOCTYPE html><html><head><script src=\"/_next/static/app.js\" async=\"\"></script>",
                "<SCRIPT id=\"_R_\">self.__next_r=1</SCRIPT>",
                "<script type=\"application/json\" id=\"data\">{\"a\":1}</script>",
                "<noscript>x</noscript><scripts>not a script</scripts>",
                "</head><body><script>(self.__next_f=self.__next_f||[]).push([0])</script>",
                "<script type='module'>import('/m.js')</script></body></html>"
            ),
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("nested")).unwrap();
        std::fs::write(
            dir.path().join("nested/page.html"),
            "<script>self.__next_r=1</script><script>alert(1)</script>",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "<script>ignored()</script>").unwrap();

        let frontend = Frontend::load(dir.path()).unwrap();
        let policy = frontend.policy().to_str().unwrap();
        // Four distinct bodies: the id'd one (twice), the push, the module, alert(1).
        assert_eq!(frontend.inline_scripts(), 4, "{policy}");
        for body in [
            "self.__next_r=1",
            "(self.__next_f=self.__next_f||[]).push([0])",
            "import('/m.js')",
            "alert(1)",
        ] {
            assert!(
                policy.contains(&format!("'{}'", sha256(body.as_bytes()))),
                "{body}: {policy}"
            );
        }
        assert!(!policy.contains(&sha256(b"{\"a\":1}")), "JSON runs nothing");
        assert!(!policy.contains(&sha256(b"ignored()")));
        // Known value: `echo -n 'alert(1)' | openssl dgst -sha256 -binary | base64`.
        assert_eq!(
            sha256(b"alert(1)"),
            "sha256-bhHHL3z2vDgxUt0W3dWQOrprscmda2Y5pLsLg4GF+pI="
        );
        let scripts = policy
            .split(';')
            .find(|d| d.trim_start().starts_with("script-src"))
            .unwrap();
        assert!(!scripts.contains("unsafe-inline") && !policy.contains("unsafe-eval"));
        assert!(
            policy.starts_with("default-src 'self'")
                && policy.contains("script-src 'self' 'sha256-")
        );
        assert!(policy.ends_with("frame-ancestors 'none'"));
    }

    #[tokio::test]
    async fn without_a_frontend_it_is_a_problem_404() {
        let response = serve(None, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(response.status(), 404);
        assert!(response.headers().get(CACHE_CONTROL).is_none());
    }
}
