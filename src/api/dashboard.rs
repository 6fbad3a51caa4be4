//! The web dashboard: three static files (HTML, CSS, JavaScript, under
//! `dashboard/`) compiled into the binary and served at `/` (and
//! `/dashboard`), so running it needs no Node build and no CDN.
//! Owns: serving those files, with headers that keep the page to itself
//! (a Content-Security-Policy allowing only its own files and the API,
//! no framing, no sniffing).
//! Must not touch: data. The page reads and changes everything through
//! the API's own routes with the key its user types in, so these routes
//! need no key and show nothing a stranger could not read in the source.

use axum::http::{header, HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

/// Scripts and styles from this server only (no inline code), images
/// from it or the page's own blob: URLs (the QR code, fetched with the
/// key), requests to this server only.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// The dashboard's routes; none needs the API key.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/dashboard", get(index))
        .route("/dashboard/", get(index))
        .route("/dashboard/app.js", get(app_js))
        .route("/dashboard/style.css", get(style_css))
}

async fn index() -> impl IntoResponse {
    asset("text/html; charset=utf-8", INDEX_HTML)
}

async fn app_js() -> impl IntoResponse {
    asset("text/javascript; charset=utf-8", APP_JS)
}

async fn style_css() -> impl IntoResponse {
    asset("text/css; charset=utf-8", STYLE_CSS)
}

fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    let headers: [(HeaderName, HeaderValue); 6] = [
        (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
        // The files change with the binary: always ask again.
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
    ];
    (headers, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element the script looks up by id exists in the page: a
    /// renamed id would leave a feature dead without any error on load.
    #[test]
    fn every_id_the_script_uses_is_in_the_page() {
        let mut missing = Vec::new();
        for (at, _) in APP_JS.match_indices("$('") {
            let rest = &APP_JS[at + 3..];
            let Some(end) = rest.find('\'') else { continue };
            let id = &rest[..end];
            if !INDEX_HTML.contains(&format!("id=\"{id}\"")) {
                missing.push(id.to_string());
            }
        }
        assert!(
            missing.is_empty(),
            "ids missing from index.html: {missing:?}"
        );
        assert!(
            APP_JS.matches("$('").count() > 30,
            "the scan found the lookups"
        );
    }

    /// Nothing is loaded from elsewhere: no CDN, no external font.
    #[test]
    fn the_page_loads_nothing_from_other_hosts() {
        for (name, text) in [
            ("index.html", INDEX_HTML),
            ("app.js", APP_JS),
            ("style.css", STYLE_CSS),
        ] {
            for needle in ["http://", "https://", "//cdn", "@import"] {
                assert!(!text.contains(needle), "{name} contains {needle}");
            }
        }
        assert!(INDEX_HTML.contains("src=\"/dashboard/app.js\""));
        assert!(INDEX_HTML.contains("href=\"/dashboard/style.css\""));
    }
}
