//! `--config FILE`: configs registered at start-up, from JSON or TOML: a list of
//! configs (each with its `name`), or a map name → config. Entries may refer to each
//! other in any order; they are registered dependencies first.

use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::registry::Registry;

/// Reads `path` into (name, config) pairs in file order.
///
/// # Errors
/// Unreadable file, bad syntax, or an entry without a name.
pub fn read(path: &Path) -> Result<Vec<(String, Value)>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("--config {}: {e}", path.display()))?;
    let doc: Value = if path.extension().is_some_and(|e| e == "toml") {
        let t: toml::Value =
            toml::from_str(&text).map_err(|e| format!("--config {}: {e}", path.display()))?;
        serde_json::to_value(t).map_err(|e| e.to_string())?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("--config {}: {e}", path.display()))?
    };
    let entries = match doc {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, c)| match c.get("name").and_then(Value::as_str) {
                Some(n) => Ok((n.to_owned(), c.clone())),
                None => Err(format!(
                    "--config {}: entry {i} has no \"name\"",
                    path.display()
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Value::Object(map) => map
            .into_iter()
            .map(|(name, mut config)| {
                if let Some(obj) = config.as_object_mut() {
                    obj.entry("name")
                        .or_insert_with(|| Value::String(name.clone()));
                }
                (name, config)
            })
            .collect(),
        _ => {
            return Err(format!(
                "--config {}: expected a list of configs or a map name -> config",
                path.display()
            ));
        }
    };
    Ok(entries)
}

/// Registers every entry of `path` (replacing configs of the same name).
///
/// # Errors
/// The first entry that fails, with all its problems.
pub async fn preload(path: &Path, registry: &Registry) -> Result<(), String> {
    let entries = read(path)?;
    for i in crate::registry::dependency_order(&entries) {
        let (name, config) = entries[i].clone();
        match registry.put(&name, config, false).await {
            Ok(_) => tracing::info!(array = %name, "preloaded"),
            Err(Error::Validation(problems)) => {
                let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
                return Err(format!(
                    "--config {}: {name:?} is invalid: {}",
                    path.display(),
                    list.join("; ")
                ));
            }
            Err(e) => return Err(format!("--config {}: {name:?}: {e}", path.display())),
        }
    }
    Ok(())
}
