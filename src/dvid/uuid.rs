//! Resolving a version reference once, at registration (`spec/dvid.md` §5 and §1.2):
//! a UUID prefix, `prefix:branch`, `prefix:branch~N`, `:master` or `:` is pinned to
//! one full 32-hex node UUID, read from the repo's DAG (`/api/repo/{ref}/info`), with
//! the node's lock state (a locked node never changes; an open one may).

use serde_json::Value;

use super::client::{DvidClient, segment};
use super::error::DvidError;

/// A parsed version reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// Hex prefix of a node UUID ("" = the only repo on the server).
    pub prefix: String,
    /// Branch whose leaf is meant (`master` = DVID's unnamed default branch).
    pub branch: Option<String>,
    /// Ancestors to step back from the branch leaf (`~N`).
    pub back: u32,
}

/// Parses `prefix`, `prefix:branch`, `prefix:branch~N`, `:branch` or `:`.
///
/// # Errors
/// A reason naming what is malformed.
pub fn parse_ref(s: &str) -> Result<NodeRef, String> {
    let s = s.trim();
    let (prefix, rest) = match s.split_once(':') {
        None => (s, None),
        Some((_, r)) if r.contains(':') => {
            return Err(format!(
                "{s:?} has more than one ':' (bad UUID specification)"
            ));
        }
        Some((p, r)) => (p, Some(r)),
    };
    if !prefix.chars().all(|c| c.is_ascii_hexdigit()) || prefix.len() > 32 {
        return Err(format!("{prefix:?} is not a hex UUID prefix"));
    }
    let (branch, back) = match rest {
        None if prefix.is_empty() => {
            return Err("is empty; give a node UUID (or a unique prefix), or \":master\"".into());
        }
        None => (None, 0),
        Some(r) => {
            let (name, back) = match r.split_once('~') {
                None => (r, 0),
                Some((n, k)) => (
                    n,
                    k.parse::<u32>()
                        .map_err(|_| format!("~{k} must be a number of ancestors"))?,
                ),
            };
            let name = if name.is_empty() { "master" } else { name };
            (Some(name.to_owned()), back)
        }
    };
    Ok(NodeRef {
        prefix: prefix.to_ascii_lowercase(),
        branch,
        back,
    })
}

/// A pinned node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The full UUID.
    pub uuid: String,
    /// True when the node is committed (its data never changes).
    pub locked: bool,
}

fn version(n: &Value) -> u64 {
    n.get("VersionID").and_then(Value::as_u64).unwrap_or(0)
}

fn ids(n: &Value, key: &str) -> Vec<u64> {
    n.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}

fn node_of(uuid: &str, n: &Value) -> Node {
    Node {
        uuid: uuid.to_owned(),
        locked: n.get("Locked").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// Picks the node `r` means from a `/api/repo/{uuid}/info` document.
///
/// # Errors
/// No or several matching nodes, an unknown branch, or too few ancestors.
pub fn pick_node(repo_info: &Value, r: &NodeRef) -> Result<Node, String> {
    let root = repo_info.get("Root").and_then(Value::as_str).unwrap_or("?");
    let Some(nodes) = repo_info
        .get("DAG")
        .and_then(|d| d.get("Nodes"))
        .and_then(Value::as_object)
    else {
        return Err("the repo info has no DAG.Nodes".into());
    };
    let Some(branch) = &r.branch else {
        let hits: Vec<_> = nodes
            .iter()
            .filter(|(k, _)| k.to_ascii_lowercase().starts_with(&r.prefix))
            .collect();
        return match hits.as_slice() {
            [(uuid, n)] => Ok(node_of(uuid, n)),
            [] => Err(format!(
                "no node of repo {root} matches the UUID prefix {:?}",
                r.prefix
            )),
            _ => Err(format!("more than one UUID matches {:?}", r.prefix)),
        };
    };
    let on_branch = |n: &Value| {
        let b = n.get("Branch").and_then(Value::as_str).unwrap_or("");
        b == branch || (branch == "master" && b.is_empty())
    };
    let members: Vec<(&String, &Value)> = nodes.iter().filter(|(_, n)| on_branch(n)).collect();
    let member_ids: Vec<u64> = members.iter().map(|(_, n)| version(n)).collect();
    let leaf = members
        .iter()
        .filter(|(_, n)| !ids(n, "Children").iter().any(|c| member_ids.contains(c)))
        .max_by_key(|(_, n)| version(n));
    let Some(&(mut uuid, mut node)) = leaf else {
        return Err(format!("branch {branch:?} not found in repo {root:?}"));
    };
    for step in 0..r.back {
        let parents = ids(node, "Parents");
        let parent = parents
            .iter()
            .find(|p| member_ids.contains(p))
            .or(parents.first())
            .and_then(|p| nodes.iter().find(|(_, n)| version(n) == *p));
        match parent {
            Some((u, n)) => (uuid, node) = (u, n),
            None => {
                return Err(format!(
                    "branch {branch:?} has only {step} ancestors before its root, not {}",
                    r.back
                ));
            }
        }
    }
    Ok(node_of(uuid, node))
}

/// Why a reference could not be pinned.
#[derive(Debug, Clone)]
pub enum ResolveError {
    /// The reference is malformed or names no node.
    Ref(String),
    /// DVID failed or refused (e.g. 400 `more than one UUID matches`).
    Upstream(DvidError),
}

/// Pins `reference` to a node of the server `client` talks to.
///
/// # Errors
/// [`ResolveError`].
pub async fn resolve(client: &DvidClient, reference: &str) -> Result<Node, ResolveError> {
    let r = parse_ref(reference).map_err(ResolveError::Ref)?;
    let repo = if r.prefix.is_empty() {
        format!(":{}", r.branch.as_deref().unwrap_or("master"))
    } else {
        r.prefix.clone()
    };
    let info = client
        .get_json(&format!("/api/repo/{}/info", segment(&repo)))
        .await
        .map_err(ResolveError::Upstream)?;
    pick_node(&info, &r).map_err(ResolveError::Ref)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(v: u64, branch: &str, locked: bool, parents: &[u64], children: &[u64]) -> Value {
        json!({"Branch": branch, "Note": "", "Log": [], "UUID": "", "VersionID": v,
            "Locked": locked, "Parents": parents, "Children": children,
            "Created": "2026-01-01T00:00:00Z", "Updated": "2026-01-01T00:00:00Z"})
    }

    /// root(1) → a(2) → b(3) on master; a → d(4) on branch "dev".
    fn repo() -> Value {
        json!({"Root": "11110000000000000000000000000000", "Alias": "t", "Description": "",
        "Log": [], "Properties": {}, "DataInstances": {},
        "DAG": {"Root": "11110000000000000000000000000000", "Nodes": {
            "11110000000000000000000000000000": node(1, "", true, &[], &[2]),
            "2222aaaa000000000000000000000000": node(2, "", true, &[1], &[3, 4]),
            "2222bbbb000000000000000000000000": node(3, "", false, &[2], &[]),
            "44440000000000000000000000000000": node(4, "dev", false, &[2], &[]),
        }}})
    }

    fn pick(s: &str) -> Result<Node, String> {
        pick_node(&repo(), &parse_ref(s)?)
    }

    #[test]
    fn references_parse() {
        assert_eq!(
            parse_ref("a7B3:master~2").unwrap(),
            NodeRef {
                prefix: "a7b3".into(),
                branch: Some("master".into()),
                back: 2
            }
        );
        assert_eq!(parse_ref(":").unwrap().branch.as_deref(), Some("master"));
        assert_eq!(parse_ref(":dev").unwrap().prefix, "");
        assert!(
            parse_ref("a:b:c")
                .unwrap_err()
                .contains("bad UUID specification")
        );
        assert!(parse_ref("xyz").is_err());
        assert!(parse_ref("").is_err());
        assert!(parse_ref("ab:master~x").is_err());
    }

    #[test]
    fn prefixes_branches_and_ancestors() {
        assert_eq!(pick("1").unwrap().uuid, "11110000000000000000000000000000");
        assert!(pick("1").unwrap().locked);
        assert_eq!(
            pick("2222b").unwrap().uuid,
            "2222bbbb000000000000000000000000"
        );
        assert!(
            pick("2222")
                .unwrap_err()
                .contains("more than one UUID matches")
        );
        assert!(pick("9").unwrap_err().contains("no node"));
        let leaf = pick(":master").unwrap();
        assert_eq!(leaf.uuid, "2222bbbb000000000000000000000000");
        assert!(!leaf.locked);
        assert_eq!(pick("1:").unwrap(), leaf);
        assert_eq!(
            pick("4:dev").unwrap().uuid,
            "44440000000000000000000000000000"
        );
        assert_eq!(
            pick("1:master~1").unwrap().uuid,
            "2222aaaa000000000000000000000000"
        );
        assert_eq!(
            pick(":dev~1").unwrap().uuid,
            "2222aaaa000000000000000000000000"
        );
        assert!(pick(":master~3").unwrap_err().contains("only 2 ancestors"));
        assert!(
            pick(":nope")
                .unwrap_err()
                .contains("branch \"nope\" not found")
        );
    }
}
