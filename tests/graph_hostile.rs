//! The HTTP Graph client against a broken or hostile server: links and
//! redirects that lead elsewhere, paging that never ends, answers too large
//! to hold, `$batch` answers without the answers, HTML instead of JSON.

mod hostile_common;

use hostile_common::*;
use pim::graph::{ErrorKind, Graph};

#[tokio::test]
async fn html_instead_of_json_is_named_for_what_it_is() {
    let graph = Server::start(None, |_| Reply::Raw {
        status: 200,
        headers: vec![("Content-Type", "text/html; charset=utf-8".into())],
        body: format!(
            "<!DOCTYPE html><html><body>Sign in to the proxy{}</body></html>",
            " ".repeat(5000)
        )
        .into_bytes(),
    })
    .await;
    let g = client(settings(&graph));
    let e = g.role_definitions().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Decode, "{e}");
    let text = check_line(&e);
    assert!(
        text.starts_with(
            "unexpected answer from Graph to GET /roleManagement/directory/roleDefinitions: \
             the answer is not JSON (200, text/html; charset=utf-8, 5061 bytes): \
             <!DOCTYPE html><html><body>Sign in to the proxy"
        ),
        "{text}"
    );
    assert!(text.ends_with('…'), "{text}");
    assert!(!text.contains("$select"), "no query: {text}");
    assert!(!text.contains("line 1 column 1"), "{text}");
}
