//! Which URLs from Graph's answers pim follows. Every request carries the
//! bearer token, so a URL the server names (`@odata.nextLink`, a redirect's
//! `Location`) is followed only when it keeps the scheme, host and port of
//! the request it came from and stays under the API root (`/v1.0/`).

use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

use super::error::{EXCERPT_CHARS, GraphError, excerpt};

/// Redirects followed in one chain at most (reqwest's own default).
const MAX_REDIRECTS: usize = 10;

/// The Graph version root, `https://graph.microsoft.com/v1.0`.
#[derive(Debug, Clone)]
pub(crate) struct ApiRoot {
    url: Url,
    /// The root's path with one trailing slash: `/v1.0/`.
    prefix: String,
}

impl ApiRoot {
    pub fn parse(root: &str) -> Result<Self, GraphError> {
        let url = Url::parse(root.trim_end_matches('/'))
            .map_err(|e| GraphError::config(format!("Graph URL {root:?} is not a URL: {e}")))?;
        let prefix = format!("{}/", url.path().trim_end_matches('/'));
        Ok(ApiRoot { url, prefix })
    }

    /// The root as pim writes URLs under it, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// Whether `url` is at the root's origin and under its path. A URL
    /// with credentials in it is never: reqwest would send them.
    pub fn contains(&self, url: &Url) -> bool {
        same_origin(&self.url, url)
            && url.username().is_empty()
            && url.password().is_none()
            && url.path().starts_with(&self.prefix)
    }

    /// `link`, from the answer to a request for `from`, resolved against
    /// it; `Err` says where it leads, for an error that names the place
    /// and nothing of the token.
    pub fn follow(&self, link: &str, from: &Url) -> Result<Url, String> {
        let url = from
            .join(link)
            .map_err(|e| format!("{:?} ({e})", excerpt(link, EXCERPT_CHARS)))?;
        if same_origin(from, &url) && self.contains(&url) {
            Ok(url)
        } else {
            Err(self.describe(&url))
        }
    }

    /// Where `url` leads, for messages: its origin, plus its path when only
    /// the path leaves the root. Never the query.
    pub fn describe(&self, url: &Url) -> String {
        if same_origin(&self.url, url) {
            format!("{}{}", origin(url), excerpt(url.path(), 100))
        } else {
            origin(url)
        }
    }
}

/// Same scheme, host and port (a default port counting as given).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// `scheme://host:port`, without user info, path or query.
pub(crate) fn origin(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port_or_known_default() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    }
}

/// The client's redirect policy: a redirect is followed only to the origin
/// it came from, and one that started under the Graph root only to under
/// it; anything else comes back as the 3xx answer, which the caller reports.
/// Refused rather than followed with Authorization stripped (reqwest's
/// default): the Graph endpoints pim calls answer 200/201/204 and are not
/// documented to redirect (UNVERIFIED that they never do), a 307/308 would
/// still carry the body elsewhere (a token request's client secret, a
/// `$batch`), and a 301/302 turns the POST into a GET whose empty answer
/// would pass for one with nothing in it.
pub(crate) fn redirect_policy(root: ApiRoot) -> Policy {
    Policy::custom(move |attempt: Attempt<'_>| {
        let previous = attempt.previous();
        if previous.len() > MAX_REDIRECTS {
            return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
        }
        let (Some(first), Some(last)) = (previous.first(), previous.last()) else {
            return attempt.stop();
        };
        let next = attempt.url();
        let allowed = same_origin(last, next)
            && next.username().is_empty()
            && next.password().is_none()
            && (!root.contains(first) || root.contains(next));
        if allowed {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn links_stay_at_the_origin_and_under_the_root() {
        let root = ApiRoot::parse("https://graph.microsoft.com/v1.0").unwrap();
        let from = url("https://graph.microsoft.com/v1.0/roleManagement/directory/x?$top=999");
        let ok = root
            .follow(
                "https://graph.microsoft.com/v1.0/roleManagement/directory/x?$skiptoken=a",
                &from,
            )
            .unwrap();
        assert_eq!(ok.query(), Some("$skiptoken=a"));
        // The default port, written out, is the same origin.
        assert!(
            root.follow("https://graph.microsoft.com:443/v1.0/x", &from)
                .is_ok()
        );
        // Relative links resolve against the request.
        assert!(root.follow("/v1.0/x?$skiptoken=b", &from).is_ok());
        for (link, named) in [
            ("http://localhost:8080/v1.0/x", "http://localhost:8080"),
            (
                "http://graph.microsoft.com/v1.0/x",
                "http://graph.microsoft.com:80",
            ),
            (
                "https://graph.microsoft.com:8443/v1.0/x",
                "https://graph.microsoft.com:8443",
            ),
            ("https://evil.example/v1.0/x", "https://evil.example:443"),
            (
                "https://graph.microsoft.com/beta/x",
                "https://graph.microsoft.com:443/beta/x",
            ),
            (
                "https://graph.microsoft.com/v1.0/../beta/x",
                "https://graph.microsoft.com:443/beta/x",
            ),
            (
                "https://graph.microsoft.com/v1.0x",
                "https://graph.microsoft.com:443/v1.0x",
            ),
            (
                "https://user:pw@graph.microsoft.com/v1.0/x",
                "https://graph.microsoft.com:443/v1.0/x",
            ),
            ("file:///etc/passwd", "file://"),
        ] {
            let e = root.follow(link, &from).unwrap_err();
            assert_eq!(e, named, "{link}");
        }
    }

    #[test]
    fn the_root_is_written_without_a_trailing_slash() {
        let root = ApiRoot::parse("https://GRAPH.microsoft.com/v1.0/").unwrap();
        assert_eq!(root.as_str(), "https://graph.microsoft.com/v1.0");
        assert!(root.contains(&url("https://graph.microsoft.com/v1.0/users")));
        assert!(!root.contains(&url("https://graph.microsoft.com/v1.0")));
    }
}
