//! How a config type builds its array from its resolved sources: the [`Node`] trait
//! every type but the asynchronous stores (`zarr`, `dvid`) implements, and [`build`],
//! which the resolver calls with the sources a node's config named.

use std::sync::Arc;

use super::resolve::{NodeCtx, Source};
use super::{Array, ArrayRef, FieldProblem};

/// A node, or every problem its config has.
pub type Resolved<T> = Result<T, Vec<FieldProblem>>;

/// A config type's array, built once at registration.
pub trait Node: Array + Sized + 'static {
    /// The type's own config fields.
    type Config;
    /// What it is built over: `()`, one [`ArrayRef`], or every [`Source`].
    type Sources: Sources;

    /// Checks the config against the sources and computes the metadata.
    ///
    /// # Errors
    /// Every problem found, with its field.
    fn build(cfg: &Self::Config, sources: Self::Sources, ctx: &NodeCtx<'_>) -> Resolved<Self>;
}

/// How a [`Node`] takes the sources its config named.
pub trait Sources: Sized {
    /// The sources in this form.
    ///
    /// # Errors
    /// When their number does not fit.
    fn take(sources: Vec<Source>, ctx: &NodeCtx<'_>) -> Resolved<Self>;
}

impl Sources for () {
    fn take(sources: Vec<Source>, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        if sources.is_empty() {
            Ok(())
        } else {
            Err(vec![ctx.problem("", "this type takes no source")])
        }
    }
}

impl Sources for ArrayRef {
    fn take(sources: Vec<Source>, ctx: &NodeCtx<'_>) -> Resolved<Self> {
        let mut it = sources.into_iter();
        match (it.next(), it.next()) {
            (Some(s), None) => Ok(s.array),
            _ => Err(vec![ctx.problem(
                "source_array_config",
                "exactly one source is required",
            )]),
        }
    }
}

impl Sources for Vec<Source> {
    fn take(sources: Vec<Source>, _ctx: &NodeCtx<'_>) -> Resolved<Self> {
        Ok(sources)
    }
}

/// Builds node type `N` over `sources`.
///
/// # Errors
/// The sources do not fit `N`, or its config does not fit them.
pub fn build<N: Node>(
    cfg: &N::Config,
    sources: Vec<Source>,
    ctx: &NodeCtx<'_>,
) -> Resolved<ArrayRef> {
    let sources = N::Sources::take(sources, ctx)?;
    Ok(Arc::new(N::build(cfg, sources, ctx)?))
}
