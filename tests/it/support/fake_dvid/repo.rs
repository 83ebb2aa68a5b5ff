//! The fake DVID's state (`spec/dvid.md` §7 "State"): repos with a DAG of nodes (full
//! 32-hex UUIDs, branches, locks) and data instances holding sparse blocks per scale;
//! UUID resolution exactly as §5, and the `/info` and repo-info JSON of §1.2-§1.3 with
//! DVID's key names, value types and `null` extents.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

/// A version node.
#[derive(Debug, Clone)]
pub struct Node {
    pub uuid: String,
    pub version: u64,
    /// "" = master.
    pub branch: String,
    pub locked: bool,
    pub parents: Vec<u64>,
    pub children: Vec<u64>,
}

/// What an instance is (seeded from tests).
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    /// `uint8blk`, `labelmap` or `labelarray`.
    pub type_name: &'static str,
    /// x,y,z.
    pub block: [i64; 3],
    /// x,y,z.
    pub voxel_size: [f64; 3],
    pub max_downres: u32,
}

impl InstanceSpec {
    pub fn new(name: &str, type_name: &'static str, block: [i64; 3], voxel_size: [f64; 3]) -> Self {
        Self {
            name: name.to_owned(),
            type_name,
            block,
            voxel_size,
            max_downres: 0,
        }
    }
}

/// A data instance: spec, optional explicit extents and blocks per scale.
#[derive(Debug, Clone)]
pub struct Instance {
    pub spec: InstanceSpec,
    /// Inclusive (min, max), x,y,z, overriding the ones derived from blocks.
    pub extents: Option<([i64; 3], [i64; 3])>,
    /// Per scale: block coordinate (x,y,z) → voxels (z,y,x, x fastest).
    pub scales: Vec<HashMap<[i64; 3], Vec<u64>>>,
}

impl Instance {
    pub fn is_labels(&self) -> bool {
        self.spec.type_name != "uint8blk"
    }

    pub fn block_voxels(&self) -> usize {
        self.spec
            .block
            .iter()
            .map(|&b| usize::try_from(b).unwrap())
            .product()
    }

    /// Inclusive extents (x,y,z): explicit, else the stored scale-0 blocks' bounds.
    pub fn extents(&self) -> Option<([i64; 3], [i64; 3])> {
        if self.extents.is_some() {
            return self.extents;
        }
        let b = self.spec.block;
        let keys: Vec<&[i64; 3]> = self.scales.first()?.keys().collect();
        if keys.is_empty() {
            return None;
        }
        let lo = [0, 1, 2].map(|d| keys.iter().map(|k| k[d]).min().unwrap() * b[d]);
        let hi = [0, 1, 2].map(|d| (keys.iter().map(|k| k[d]).max().unwrap() + 1) * b[d] - 1);
        Some((lo, hi))
    }

    /// Voxels of the box `begin`/`size` (x,y,z) at `scale`, packed z,y,x with `bpv`
    /// little-endian bytes each; zero where no block is stored.
    pub fn voxels(&self, scale: usize, begin: [i64; 3], size: [i64; 3], bpv: usize) -> Vec<u8> {
        let n: i64 = size.iter().product();
        let mut out = vec![0u8; usize::try_from(n).unwrap() * bpv];
        let Some(blocks) = self.scales.get(scale) else {
            return out;
        };
        let b = self.spec.block;
        let first = [0, 1, 2].map(|d| begin[d].div_euclid(b[d]));
        let last = [0, 1, 2].map(|d| (begin[d] + size[d] - 1).div_euclid(b[d]));
        for bz in first[2]..=last[2] {
            for by in first[1]..=last[1] {
                for bx in first[0]..=last[0] {
                    let Some(data) = blocks.get(&[bx, by, bz]) else {
                        continue;
                    };
                    let origin = [bx * b[0], by * b[1], bz * b[2]];
                    let lo = [0, 1, 2].map(|d| origin[d].max(begin[d]));
                    let hi = [0, 1, 2].map(|d| (origin[d] + b[d]).min(begin[d] + size[d]));
                    for z in lo[2]..hi[2] {
                        for y in lo[1]..hi[1] {
                            for x in lo[0]..hi[0] {
                                let src = ((z - origin[2]) * b[1] + (y - origin[1])) * b[0]
                                    + (x - origin[0]);
                                let dst = ((z - begin[2]) * size[1] + (y - begin[1])) * size[0]
                                    + (x - begin[0]);
                                let v = data[usize::try_from(src).unwrap()].to_le_bytes();
                                let at = usize::try_from(dst).unwrap() * bpv;
                                out[at..at + bpv].copy_from_slice(&v[..bpv]);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Writes `data` (z,y,x, shape `shape_zyx`) at `offset_zyx` of `scale`.
    pub fn write(
        &mut self,
        scale: usize,
        offset_zyx: [i64; 3],
        shape_zyx: [usize; 3],
        data: &[u64],
    ) {
        while self.scales.len() <= scale {
            self.scales.push(HashMap::new());
        }
        let b = self.spec.block;
        let nvox = self.block_voxels();
        for (i, &v) in data.iter().enumerate() {
            let (z, y, x) = (
                i / (shape_zyx[1] * shape_zyx[2]),
                (i / shape_zyx[2]) % shape_zyx[1],
                i % shape_zyx[2],
            );
            let p = [
                offset_zyx[2] + i64::try_from(x).unwrap(),
                offset_zyx[1] + i64::try_from(y).unwrap(),
                offset_zyx[0] + i64::try_from(z).unwrap(),
            ];
            let key = [0, 1, 2].map(|d| p[d].div_euclid(b[d]));
            let r = [0, 1, 2].map(|d| p[d].rem_euclid(b[d]));
            let block = self.scales[scale]
                .entry(key)
                .or_insert_with(|| vec![0; nvox]);
            block[usize::try_from((r[2] * b[1] + r[1]) * b[0] + r[0]).unwrap()] = v;
        }
    }

    /// The `/info` JSON of §1.3.
    pub fn info(&self, repo_root: &str, version: u64) -> Value {
        let s = &self.spec;
        let labels = self.is_labels();
        let (min, max) = match self.extents() {
            Some((lo, hi)) => (json!(lo), json!(hi)),
            None => (Value::Null, Value::Null),
        };
        let index = |p: &Value| match p.as_array() {
            Some(a) => json!([0, 1, 2].map(|d| a[d].as_i64().unwrap().div_euclid(s.block[d]))),
            None => Value::Null,
        };
        let (type_url, data_type, compression) = if labels {
            (
                format!("github.com/janelia-flyem/dvid/datatype/{}", s.type_name),
                "uint64",
                "gzip compression, level -1",
            )
        } else {
            (
                "github.com/janelia-flyem/dvid/datatype/imageblk/uint8.go".to_owned(),
                "uint8",
                "LZ4 compression, level -1",
            )
        };
        let mut ext = json!({
            "Values": [{"DataType": data_type, "Label": if labels { s.type_name } else { "uint8" }}],
            "Interpolable": !labels,
            "BlockSize": s.block,
            "VoxelSize": s.voxel_size,
            "VoxelUnits": ["nanometers", "nanometers", "nanometers"],
            "MinPoint": min, "MaxPoint": max,
            "MinIndex": index(&min), "MaxIndex": index(&max),
            "Background": 0, "GridStore": "", "ScaleLevel": 0,
        });
        if labels {
            let max_label = self
                .scales
                .first()
                .and_then(|m| m.values().flatten().max().copied())
                .unwrap_or(0);
            let obj = ext.as_object_mut().unwrap();
            obj.insert("MaxLabel".into(), json!({ version.to_string(): max_label }));
            obj.insert("MaxRepoLabel".into(), json!(max_label));
            obj.insert("NextLabel".into(), json!(0));
            obj.insert("IndexedLabels".into(), json!(true));
            obj.insert("MaxDownresLevel".into(), json!(s.max_downres));
        }
        json!({
            "Base": {
                "TypeName": s.type_name, "TypeURL": type_url, "TypeVersion": "0.1",
                "DataUUID": format!("{:0>32}", s.name.len()), "Name": s.name,
                "RepoUUID": repo_root, "Compression": compression, "Checksum": "No checksum",
                "Syncs": [], "Versioned": true, "KVStore": "fake @ memory",
                "LogStore": "no mutation log set", "Tags": {},
            },
            "Extended": ext,
            "Extents": {"MinPoint": min, "MaxPoint": max},
        })
    }
}

/// A repo: its DAG and instances.
#[derive(Debug, Clone)]
pub struct Repo {
    pub root: String,
    pub alias: String,
    pub nodes: Vec<Node>,
    pub instances: BTreeMap<String, Instance>,
}

impl Repo {
    fn node_json(n: &Node) -> Value {
        json!({"Branch": n.branch, "Note": "", "Log": [], "UUID": n.uuid, "VersionID": n.version,
            "Locked": n.locked, "Parents": n.parents, "Children": n.children,
            "Created": "2026-01-01T00:00:00Z", "Updated": "2026-01-01T00:00:00Z"})
    }

    /// The repo-info JSON of §1.2.
    pub fn info(&self) -> Value {
        let leaf = self.master_leaf().map_or(1, |n| n.version);
        let instances: Map<String, Value> = self
            .instances
            .iter()
            .map(|(k, i)| (k.clone(), i.info(&self.root, leaf)))
            .collect();
        let nodes: Map<String, Value> = self
            .nodes
            .iter()
            .map(|n| (n.uuid.clone(), Self::node_json(n)))
            .collect();
        json!({"Root": self.root, "Alias": self.alias, "Description": "", "Log": [],
            "Properties": {}, "DataInstances": instances,
            "DAG": {"Root": self.root, "Nodes": nodes},
            "MutationID": 0, "Created": "2026-01-01T00:00:00Z", "Updated": "2026-01-01T00:00:00Z"})
    }

    fn branch_nodes(&self, branch: &str) -> Vec<&Node> {
        let want = if branch == "master" { "" } else { branch };
        self.nodes.iter().filter(|n| n.branch == want).collect()
    }

    /// The newest node of `branch` without a child on the same branch.
    pub fn leaf(&self, branch: &str) -> Option<&Node> {
        let members = self.branch_nodes(branch);
        let ids: Vec<u64> = members.iter().map(|n| n.version).collect();
        members
            .into_iter()
            .filter(|n| !n.children.iter().any(|c| ids.contains(c)))
            .max_by_key(|n| n.version)
    }

    fn master_leaf(&self) -> Option<&Node> {
        self.leaf("master")
    }

    pub fn node_by_version(&self, v: u64) -> Option<&Node> {
        self.nodes.iter().find(|n| n.version == v)
    }
}

/// Every repo of the server.
#[derive(Debug, Default)]
pub struct World {
    pub repos: Vec<Repo>,
}

impl World {
    /// Resolves a `{uuid}` path element as §5: (repo index, node uuid), or DVID's message.
    pub fn resolve(&self, spec: &str) -> Result<(usize, String), String> {
        if spec.matches(':').count() > 1 {
            return Err("bad UUID specification".into());
        }
        let (prefix, branch) = match spec.split_once(':') {
            None => (spec, None),
            Some((p, b)) => (p, Some(if b.is_empty() { "master" } else { b })),
        };
        let repo = if prefix.is_empty() {
            if branch.is_none() {
                return Err(format!("could not find UUID with partial match to {spec}"));
            }
            if self.repos.len() != 1 {
                return Err("UUID must be specified if more than one repo exists".into());
            }
            0
        } else {
            let hits: Vec<(usize, &Node)> = self
                .repos
                .iter()
                .enumerate()
                .flat_map(|(i, r)| r.nodes.iter().map(move |n| (i, n)))
                .filter(|(_, n)| n.uuid.starts_with(prefix))
                .collect();
            match hits.as_slice() {
                [] => {
                    return Err(format!(
                        "could not find UUID with partial match to {prefix}"
                    ));
                }
                [(i, n)] if branch.is_none() => return Ok((*i, n.uuid.clone())),
                [(i, _)] => *i,
                _ => return Err(format!("more than one UUID matches {prefix}")),
            }
        };
        // A bare prefix returned above; what is left names a branch.
        let branch = branch.unwrap_or("master");
        let (name, back) = match branch.split_once('~') {
            None => (branch, 0),
            Some((n, k)) => (n, k.parse::<u32>().map_err(|e| e.to_string())?),
        };
        let r = &self.repos[repo];
        let mut node = r
            .leaf(name)
            .ok_or_else(|| format!("branch {name:?} not found in repo {:?}", r.root))?;
        for _ in 0..back {
            let parent = node.parents.first().and_then(|p| r.node_by_version(*p));
            node = parent.ok_or_else(|| format!("no ancestor {branch} in repo {:?}", r.root))?;
        }
        Ok((repo, node.uuid.clone()))
    }

    pub fn node(&self, repo: usize, uuid: &str) -> &Node {
        self.repos[repo]
            .nodes
            .iter()
            .find(|n| n.uuid == uuid)
            .unwrap()
    }
}
