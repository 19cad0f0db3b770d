//! The commands that need no tenant: `validate`, `fmt` and `show`.

use std::path::Path;

use anyhow::Context as _;

use super::args::*;
use super::*;
use crate::config;

pub(super) fn show(args: &ShowArgs) -> anyhow::Result<Exit> {
    let plan = crate::plan::planfile::read(&args.file)?;
    out!("{}", render_plan(&plan, args.format))?;
    Ok(Exit::Ok)
}

pub(super) fn validate(args: &ConfigArgs) -> anyhow::Result<Exit> {
    match config::load(&args.dir, &args.load_options()) {
        Ok(desired) => {
            for w in desired.warnings.warnings() {
                errln!("{}\n", w.render(colour::stderr()));
            }
            outln!("Valid: {}.", desired.summary())?;
            Ok(Exit::Ok)
        }
        Err(e) => {
            let diags = e.diagnostics();
            errln!("{}", diags.render(colour::stderr()));
            let n = diags.errors().count();
            errln!(
                "\n{n} error{} in {}",
                if n == 1 { "" } else { "s" },
                args.dir.display()
            );
            Ok(Exit::Error)
        }
    }
}

pub(super) fn fmt(dir: &Path, check: bool) -> anyhow::Result<Exit> {
    let changed = config::fmt::format_dir(dir, !check)
        .with_context(|| format!("formatting {}", dir.display()))?;
    for path in &changed {
        outln!("{}", shown(&path.display()))?;
    }
    Ok(if check && !changed.is_empty() {
        Exit::WouldChange
    } else {
        Exit::Ok
    })
}
