//! Collections read whole: `@odata.nextLink` followed within the Graph
//! root, each link once, each page within its `$top`, up to `max_pages`.

use std::collections::HashSet;

use reqwest::Url;
use serde::de::DeserializeOwned;

use super::HttpGraph;
use super::send::Call;
use crate::graph::error::{ErrorKind, GraphError};
use crate::graph::wire::Page;

impl HttpGraph {
    /// Every item of the collection at `path`, following `@odata.nextLink`
    /// within the Graph root, each link at most once, each page no larger
    /// than the `$top` in `path`, at most `max_pages` pages.
    pub(super) async fn get_all<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Vec<T>, GraphError> {
        self.get_all_as(path, Ok, |_| {}).await
    }

    /// [`get_all`](Self::get_all), each item turned by `convert` as its page
    /// arrives: a large collection's wire records then live one page at a
    /// time, not beside everything made of them. `on_page` is shown each
    /// page's items once converted, while the next page is still to come.
    pub(super) async fn get_all_as<T: DeserializeOwned, U>(
        &self,
        path: &str,
        mut convert: impl FnMut(T) -> Result<U, GraphError>,
        on_page: impl Fn(&[U]),
    ) -> Result<Vec<U>, GraphError> {
        let first = Url::parse(&self.url(path))
            .map_err(|e| GraphError::config(format!("cannot build a Graph URL: {e}")))?;
        let top: Option<usize> = first
            .query_pairs()
            .find(|(k, _)| k == "$top")
            .and_then(|(_, v)| v.parse().ok());
        // Links compared as parsed, so spelling differences cannot hide a loop.
        let mut seen: HashSet<String> = HashSet::from([first.to_string()]);
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        while let Some(url) = next.take() {
            let call = Call::get(url);
            let op = call.operation(&self.root);
            let page: Page<T> = self.execute(&call).await?.decode(&op)?;
            if let Some(top) = top.filter(|t| page.value.len() > *t) {
                return Err(GraphError::new(
                    ErrorKind::Paging,
                    op,
                    format!(
                        "a page held {} items, more than the $top={top} pim asked for",
                        page.value.len()
                    ),
                ));
            }
            out.reserve(page.value.len());
            let before = out.len();
            for item in page.value {
                out.push(convert(item)?);
            }
            on_page(&out[before..]);
            let Some(link) = page.next_link else {
                break;
            };
            let url = self.next_url(&op, &link, &call.url)?;
            if seen.len() >= self.limits.max_pages {
                return Err(GraphError::new(
                    ErrorKind::Paging,
                    op,
                    format!(
                        "{} pages and still an @odata.nextLink; pim reads at most {} pages of one collection",
                        seen.len(),
                        self.limits.max_pages
                    ),
                ));
            }
            if !seen.insert(url.to_string()) {
                return Err(GraphError::new(
                    ErrorKind::Paging,
                    op,
                    format!(
                        "@odata.nextLink goes back to a page already read (after {} pages)",
                        seen.len()
                    ),
                ));
            }
            next = Some(url.to_string());
        }
        Ok(out)
    }

    /// Whole collections at each of `paths`, their first pages packed into
    /// `$batch`es and every further page too, round by round: one list per
    /// group costs a twentieth of a call, not one. An answer per path, in
    /// order; a path Graph refused answers its error.
    pub(super) async fn batch_get_all<T: DeserializeOwned>(
        &self,
        paths: &[String],
    ) -> Result<Vec<Result<Vec<T>, GraphError>>, GraphError> {
        let mut out: Vec<Result<Vec<T>, GraphError>> =
            paths.iter().map(|_| Ok(Vec::new())).collect();
        // (answer index, path to read, pages read so far)
        let mut wanted: Vec<(usize, String, usize)> = paths
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, p)| (i, p, 0))
            .collect();
        let mut seen: HashSet<String> = HashSet::new();
        while !wanted.is_empty() {
            let round: Vec<String> = wanted.iter().map(|(_, p, _)| p.clone()).collect();
            let answers = self.batch_get(&round).await?;
            let mut next = Vec::new();
            for ((i, path, pages), answer) in wanted.into_iter().zip(answers) {
                let op = format!("GET {}", path.split('?').next().unwrap_or(&path));
                let page: Page<T> = match answer.and_then(|v| {
                    serde_json::from_value(v).map_err(|e| GraphError::decode(&op, e.to_string()))
                }) {
                    Ok(p) => p,
                    Err(e) => {
                        out[i] = Err(e);
                        continue;
                    }
                };
                let Ok(items) = &mut out[i] else { continue };
                items.extend(page.value);
                let Some(link) = page.next_link else { continue };
                let from = self.url(&path);
                let url = self.next_url(&op, &link, &from)?;
                if pages + 1 >= self.limits.max_pages || !seen.insert(url.to_string()) {
                    return Err(GraphError::new(
                        ErrorKind::Paging,
                        op,
                        format!(
                            "@odata.nextLink after {} pages goes back to a page already read or past pim's limit of {}",
                            pages + 1,
                            self.limits.max_pages
                        ),
                    ));
                }
                // A link within the root is a path under it, as `$batch` takes.
                let rel = url
                    .as_str()
                    .strip_prefix(self.root.as_str())
                    .map(str::to_string);
                match rel {
                    Some(rel) => next.push((i, rel, pages + 1)),
                    None => {
                        return Err(GraphError::decode(op, format!("cannot page to {url}")));
                    }
                }
            }
            wanted = next;
        }
        Ok(out)
    }

    /// A next link, checked before the token goes with it.
    fn next_url(&self, op: &str, link: &str, from: &str) -> Result<Url, GraphError> {
        let from = Url::parse(from).map_err(|e| GraphError::decode(op, e.to_string()))?;
        self.api_root.follow(link, &from).map_err(|to| {
            GraphError::new(
                ErrorKind::UntrustedUrl,
                op,
                format!(
                    "its @odata.nextLink leads to {to}, outside the Graph root {}; pim follows links only within it",
                    self.root
                ),
            )
        })
    }
}
