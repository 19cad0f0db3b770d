//! Shared Key authorization for the Blob service: the canonical string to
//! sign, and its HMAC-SHA256 under the account key.
//! <https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key>

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use crate::model::Caseless;

/// The standard headers that take a fixed line of the string to sign, in
/// order; `x-ms-*` headers follow, then the resource.
const SIGNED_STANDARD: [&str; 11] = [
    "content-encoding",
    "content-language",
    "content-length",
    "content-md5",
    "content-type",
    "date",
    "if-modified-since",
    "if-match",
    "if-none-match",
    "if-unmodified-since",
    "range",
];

/// The string the service signs for a request. `headers` are name/value
/// pairs (any case) as they will be sent; `content_length` is the body size.
pub(super) fn string_to_sign(
    method: &str,
    url: &Url,
    account: &str,
    headers: &[(&str, String)],
    content_length: usize,
) -> String {
    let mut out = String::new();
    out.push_str(method);
    out.push('\n');
    for name in SIGNED_STANDARD {
        if name == "content-length" {
            // Since 2015-02-21 a zero length is signed as the empty string.
            if content_length > 0 {
                out.push_str(&content_length.to_string());
            }
        } else if let Some((_, v)) = headers.iter().find(|(n, _)| Caseless::same(n, name)) {
            out.push_str(v);
        }
        out.push('\n');
    }

    let mut ms: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (Caseless::ascii(n).into_string(), v))
        .filter(|(n, _)| n.starts_with("x-ms-"))
        .map(|(n, v)| (n, unfold(v)))
        .collect();
    ms.sort();
    for (n, v) in ms {
        out.push_str(&n);
        out.push(':');
        out.push_str(&v);
        out.push('\n');
    }

    // The resource: the account, then the encoded path as sent (for a
    // path-style emulator URL that path starts with the account again).
    out.push('/');
    out.push_str(account);
    out.push_str(url.path());
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in url.query_pairs() {
        let k = Caseless::new(&k).into_string();
        match params.iter_mut().find(|(n, _)| *n == k) {
            Some((_, vs)) => vs.push(v.into_owned()),
            None => params.push((k, vec![v.into_owned()])),
        }
    }
    params.sort();
    for (k, mut vs) in params {
        vs.sort();
        out.push('\n');
        out.push_str(&k);
        out.push(':');
        out.push_str(&vs.join(","));
    }
    out
}

/// The `Authorization` value for a string to sign.
pub(super) fn authorization(account: &str, key: &[u8], string_to_sign: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(string_to_sign.as_bytes());
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    format!("SharedKey {account}:{sig}")
}

/// Linear whitespace in a header value becomes one space.
fn unfold(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_orders_headers_and_query() {
        let url = Url::parse("http://127.0.0.1:10000/devstoreaccount1/c/b%20x?comp=lease&B=2&b=1")
            .unwrap();
        let s = string_to_sign(
            "PUT",
            &url,
            "devstoreaccount1",
            &[
                ("x-ms-version", "2024-08-04".into()),
                ("X-MS-Date", "Mon, 01 Jan 2024 00:00:00 GMT".into()),
                ("If-Match", "\"0x1\"".into()),
                ("x-ms-lease-action", "acquire".into()),
            ],
            0,
        );
        assert_eq!(
            s,
            "PUT\n\n\n\n\n\n\n\n\"0x1\"\n\n\n\n\
             x-ms-date:Mon, 01 Jan 2024 00:00:00 GMT\n\
             x-ms-lease-action:acquire\n\
             x-ms-version:2024-08-04\n\
             /devstoreaccount1/devstoreaccount1/c/b%20x\nb:1,2\ncomp:lease"
        );
    }

    #[test]
    fn signature_is_base64_hmac_sha256() {
        // HMAC-SHA256 of "what do ya want for nothing?" under "Jefe" (RFC 4231, case 2).
        let auth = authorization("acct", b"Jefe", "what do ya want for nothing?");
        assert_eq!(
            auth,
            "SharedKey acct:W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }
}
