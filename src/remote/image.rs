//! Destination images: created with `qemu-img create` in a libvirt storage
//! pool's directory, never over an existing file, and removed again on
//! rollback. The pool is refreshed (`virStoragePoolRefresh`) after each
//! change so libvirt's volume list stays true.

use super::error::RemoteError;
use super::path::{RemotePath, check_name};
use super::qemu_nbd::ImageFormat;
use super::shell;
use crate::libvirt::HostWorker;
use crate::transport::Session;
use crate::transport::quote::quote;
use std::sync::Arc;

/// Exit code of the create script when the file exists.
const EXISTS_CODE: u32 = 17;

/// Pool types whose volumes are plain files under `<target><path>`.
const FILE_POOLS: [&str; 3] = ["dir", "fs", "netfs"];

/// A storage pool as far as image placement cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTarget {
    pub name: String,
    /// `<pool type=…>`.
    pub kind: String,
    /// `<target><path>`.
    pub path: Option<String>,
}

/// Reads `<pool type=…>` and `<target><path>` from pool XML (pure).
pub fn parse_pool_xml(name: &str, xml: &str) -> Result<PoolTarget, RemoteError> {
    let bad = |reason: String| RemoteError::Pool {
        pool: name.to_string(),
        reason,
    };
    let doc = roxmltree::Document::parse(xml).map_err(|e| bad(format!("bad XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "pool" {
        return Err(bad(format!("root is <{}>", root.tag_name().name())));
    }
    let path = root
        .children()
        .find(|n| n.has_tag_name("target"))
        .and_then(|t| t.children().find(|n| n.has_tag_name("path")))
        .and_then(|p| p.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    Ok(PoolTarget {
        name: name.to_string(),
        kind: root.attribute("type").unwrap_or("").to_string(),
        path,
    })
}

/// The directory of an active, file-based pool (dir, fs, netfs).
pub async fn pool_dir(worker: &HostWorker, pool: &str) -> Result<RemotePath, RemoteError> {
    let name = pool.to_string();
    let (active, xml) = worker
        .call(move |c| {
            let p = c.lookup_storage_pool_by_name(&name)?;
            Ok((p.is_active()?, p.xml_desc(0)?))
        })
        .await?;
    let err = |reason: String| RemoteError::Pool {
        pool: pool.to_string(),
        reason,
    };
    if !active {
        return Err(err("is not active".into()));
    }
    let target = parse_pool_xml(pool, &xml)?;
    if !FILE_POOLS.contains(&target.kind.as_str()) {
        return Err(err(format!(
            "is of type {}; only dir, fs and netfs pools hold image files",
            target.kind
        )));
    }
    let path = target
        .path
        .ok_or_else(|| err("has no target path".into()))?;
    RemotePath::new(path.trim_end_matches('/'))
}

/// Refreshes a pool so libvirt sees files added or removed behind its back.
pub async fn refresh_pool(worker: &HostWorker, pool: &str) -> Result<(), RemoteError> {
    let name = pool.to_string();
    worker
        .call(move |c| c.lookup_storage_pool_by_name(&name)?.refresh(0))
        .await?;
    Ok(())
}

/// Whether anything (file, directory, dangling symlink) is at `path`.
pub async fn file_exists(session: &Session, path: &RemotePath) -> Result<bool, RemoteError> {
    let p = quote(path.as_str());
    let script = format!("if [ -e {p} ] || [ -L {p} ]; then echo yes; else echo no; fi");
    let out = shell::run(session, &script).await?;
    match out.stdout_str().trim() {
        "yes" => Ok(true),
        "no" => Ok(false),
        other => Err(RemoteError::UnexpectedOutput {
            host: session.target().to_string(),
            what: "test -e",
            detail: other.escape_debug().to_string(),
        }),
    }
}

/// An image this job created. [`Image::keep`] once the domain using it is
/// defined; [`Image::remove`] to roll back. Dropped without either, a
/// best-effort removal is spawned on the current Tokio runtime: an image
/// never kept is by definition a partial one.
pub struct Image {
    session: Arc<Session>,
    worker: Arc<HostWorker>,
    pool: String,
    path: RemotePath,
    format: ImageFormat,
    size: u64,
    settled: bool,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("host", &self.session.target())
            .field("pool", &self.pool)
            .field("path", &self.path)
            .field("format", &self.format)
            .field("size", &self.size)
            .finish()
    }
}

impl Image {
    /// Creates `<pool dir>/<file_name>` of `size` bytes (virtual) in
    /// `format`, mode 0600, then refreshes the pool. Fails with
    /// [`RemoteError::Exists`] if anything is at that path: the file is
    /// created with O_EXCL (`set -C`) before qemu-img writes it, so a
    /// concurrent creator cannot be overwritten either.
    pub async fn create(
        session: Arc<Session>,
        worker: Arc<HostWorker>,
        pool: &str,
        file_name: &str,
        format: ImageFormat,
        size: u64,
    ) -> Result<Image, RemoteError> {
        check_name("image file name", file_name)?;
        if size == 0 {
            return Err(RemoteError::InvalidName {
                what: "image size",
                value: "0".into(),
                reason: "must be more than 0 bytes",
            });
        }
        let dir = pool_dir(&worker, pool).await?;
        let path = dir.join(file_name)?;
        let script = format!(
            r#"umask 077; p={p}
if [ -e "$p" ] || [ -L "$p" ] || ! (set -C; : > "$p") 2>/dev/null; then
  if [ -e "$p" ] || [ -L "$p" ]; then exit {EXISTS_CODE}; fi
  echo "cannot create $p" >&2; exit 1
fi
qemu-img create -q -f {fmt} -- "$p" {size} || {{ rc=$?; rm -f -- "$p"; exit $rc; }}"#,
            p = quote(path.as_str()),
            fmt = format.as_str(),
        );
        let out = session.exec(&script).await?;
        if out.status == Some(EXISTS_CODE) {
            return Err(RemoteError::Exists {
                host: session.target().to_string(),
                path: path.to_string(),
            });
        }
        out.check(&script)?;
        tracing::debug!(host = session.target(), %path, %format, size, "image created");
        let image = Image {
            session,
            worker,
            pool: pool.to_string(),
            path,
            format,
            size,
            settled: false,
        };
        // If the refresh fails, `image` is dropped here, which removes the
        // file again: the caller sees one error and no leftover.
        refresh_pool(&image.worker, &image.pool).await?;
        Ok(image)
    }

    pub fn path(&self) -> &RemotePath {
        &self.path
    }

    pub fn pool(&self) -> &str {
        &self.pool
    }

    pub fn format(&self) -> ImageFormat {
        self.format
    }

    /// Virtual size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The image is now in use (its domain is defined): never remove it.
    pub fn keep(mut self) -> RemotePath {
        self.settled = true;
        self.path.clone()
    }

    /// Deletes the file and refreshes the pool.
    pub async fn remove(mut self) -> Result<(), RemoteError> {
        self.settled = true;
        remove_file(&self.session, &self.worker, &self.pool, &self.path).await
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (session, worker) = (self.session.clone(), self.worker.clone());
        let (pool, path) = (self.pool.clone(), self.path.clone());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = remove_file(&session, &worker, &pool, &path).await {
                    tracing::warn!(%path, error = %e, "partial image not removed");
                }
            });
        }
    }
}

/// Removes an image file by path (rollback, or cleanup from a journal) and
/// refreshes the pool. The path must lie directly in the pool's directory.
/// A file already gone is fine.
pub async fn remove_file(
    session: &Session,
    worker: &HostWorker,
    pool: &str,
    path: &RemotePath,
) -> Result<(), RemoteError> {
    let dir = pool_dir(worker, pool).await?;
    if path.parent().as_ref() != Some(&dir) {
        return Err(RemoteError::InvalidPath {
            path: path.to_string(),
            reason: "not directly in the pool's directory",
        });
    }
    shell::run(session, &format!("rm -f -- {}", quote(path.as_str()))).await?;
    refresh_pool(worker, pool).await?;
    tracing::debug!(host = session.target(), %path, "image removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_pool_xml() {
        let xml = "<pool type='dir'><name>default</name><target>\
                   <path>/var/lib/libvirt/images</path><permissions/></target></pool>";
        let t = parse_pool_xml("default", xml).unwrap();
        assert_eq!(t.kind, "dir");
        assert_eq!(t.path.as_deref(), Some("/var/lib/libvirt/images"));
    }

    #[test]
    fn pools_without_a_path_or_not_pools() {
        let t = parse_pool_xml("rbd", "<pool type='rbd'><source/></pool>").unwrap();
        assert_eq!((t.kind.as_str(), t.path), ("rbd", None));
        assert!(parse_pool_xml("x", "<domain/>").is_err());
        assert!(parse_pool_xml("x", "<pool").is_err());
    }
}
