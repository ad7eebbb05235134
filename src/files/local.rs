//! Files on the local disk under `UPLOAD_DEST`: each is written to a hidden temporary file in
//! its folder, flushed, then renamed into place, so a reader (or a restart after a crash) sees
//! either the whole file or none.

use std::io;
use std::path::PathBuf;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{ByteStream, FileStore, StoreFuture, safe_name};

/// Files under a local folder.
#[derive(Debug, Clone)]
pub struct LocalDisk {
    root: PathBuf,
}

impl LocalDisk {
    /// Files under `root`.
    pub fn new(root: &str) -> Self {
        Self {
            root: PathBuf::from(root),
        }
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        Ok(self.root.join(safe_name(name)?))
    }
}

/// Copies the stream into a new file at `tmp`, flushed to disk; returns the size.
async fn write_all(tmp: &PathBuf, mut body: ByteStream<'_>) -> io::Result<u64> {
    let mut file = tokio::fs::File::create_new(tmp).await?;
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        size += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.sync_all().await?;
    Ok(size)
}

impl FileStore for LocalDisk {
    fn put_stream<'a>(&'a self, name: &'a str, body: ByteStream<'a>) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let path = self.path(name)?;
            let dir = path.parent().unwrap_or(&self.root).to_path_buf();
            tokio::fs::create_dir_all(&dir).await?;
            let file_name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let tmp = dir.join(format!(".{file_name}.{}.part", Uuid::new_v4().simple()));
            match write_all(&tmp, body).await {
                Ok(size) => {
                    tokio::fs::rename(&tmp, &path).await?;
                    Ok(size)
                }
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    Err(e)
                }
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ByteStream<'static>>> {
        Box::pin(async move {
            match tokio::fs::File::open(self.path(name)?).await {
                Ok(file) => {
                    let stream: ByteStream<'static> = Box::pin(read_chunks(file));
                    Ok(Some(stream))
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(name)?).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }
}

/// A file read in 64 KiB chunks.
fn read_chunks(
    file: tokio::fs::File,
) -> impl futures_util::Stream<Item = io::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::try_unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), file)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileStore;
    use bytes::Bytes;

    fn temp_root() -> PathBuf {
        std::env::temp_dir().join(format!("ticketmax-files-{}", Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn a_file_round_trips_and_a_missing_one_is_none() {
        let root = temp_root();
        let disk: &dyn FileStore = &LocalDisk::new(&root.display().to_string());
        disk.put("events/a.png", Bytes::from_static(b"x"))
            .await
            .unwrap();
        assert_eq!(disk.read("events/a.png").await.unwrap().unwrap(), "x");
        disk.delete("events/a.png").await.unwrap();
        assert!(disk.read("events/a.png").await.unwrap().is_none());
        disk.delete("events/a.png").await.unwrap();
        let _ = std::fs::remove_dir_all(root);
    }

    #[tokio::test]
    async fn a_stream_that_fails_midway_leaves_no_file_behind() {
        let root = temp_root();
        let disk = LocalDisk::new(&root.display().to_string());
        let body: ByteStream<'_> = Box::pin(futures_util::stream::iter([
            Ok(Bytes::from_static(b"half of it")),
            Err(io::Error::new(io::ErrorKind::FileTooLarge, "cap")),
        ]));
        let err = disk.put_stream("docs/a.pdf", body).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        let left: Vec<_> = std::fs::read_dir(root.join("docs")).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        let _ = std::fs::remove_dir_all(root);
    }
}
