//! The `state` block: where state is kept, a local file or an azurerm blob.

use super::StateSettings;
use super::eval::EvalScope;
use super::fields::Fields;
use super::load::{Item, Loader};

impl Loader<'_> {
    pub(super) fn state(&mut self, item: Item<'_>, scope: &EvalScope) -> StateSettings {
        let mut b = Fields::new(self, item, scope, None);
        let backend = b.string("backend").unwrap_or_else(|| "local".into());
        match backend.as_str() {
            "local" => {
                for name in ["account", "container", "blob", "endpoint"] {
                    b.not_for(name, "the local backend");
                }
                let path = b.string("path").unwrap_or_else(|| "pim.state.json".into());
                StateSettings::Local {
                    path: b.loader.dir.join(path),
                }
            }
            "azurerm" => {
                b.not_for("path", "the azurerm backend");
                let account = b.required_string("account").unwrap_or_default();
                let container = b.required_string("container").unwrap_or_default();
                let blob = b.string("blob").unwrap_or_else(|| "pim.state.json".into());
                let endpoint = b.url("endpoint");
                StateSettings::AzureRm {
                    account,
                    container,
                    blob,
                    endpoint,
                }
            }
            other => {
                let span = b.value_span("backend");
                b.loader
                    .error(
                        item.file,
                        span,
                        format!("unknown state backend \"{other}\""),
                    )
                    .hint = Some("use \"local\" or \"azurerm\"".into());
                StateSettings::Local {
                    path: b.loader.dir.join("pim.state.json"),
                }
            }
        }
    }
}
