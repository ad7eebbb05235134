//! Uploaded files behind one small interface, [`FileStore`]: the local disk under `UPLOAD_DEST`
//! (the default) or an S3-compatible bucket (`STORAGE_BACKEND=s3`). Names are always chosen by
//! the server (`events/<content hash>.png`, `documents/<application>/<random>.pdf`), never taken
//! from a client. A file is written from a stream and becomes visible under its name only once
//! whole: an upload cut short, refused midway or interrupted by a crash leaves nothing there.

pub mod capped;
mod local;
mod s3;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::Stream;

pub use local::LocalDisk;
pub use s3::S3Bucket;

use crate::config::{Config, Storage};

/// The bytes of a file, as they are read or written.
pub type ByteStream<'a> = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'a>>;

/// Boxed future of a [`FileStore`] operation.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send + 'a>>;

/// Where uploaded files live.
pub trait FileStore: Send + Sync {
    /// Writes `name` from a stream and returns its size. Nothing is visible under `name` until
    /// the stream has ended well; an error of the stream itself (a size cap reached) is
    /// returned as it is, and what was written so far is discarded.
    fn put_stream<'a>(&'a self, name: &'a str, body: ByteStream<'a>) -> StoreFuture<'a, u64>;
    /// Reads a file; `None` when it does not exist.
    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ByteStream<'static>>>;
    /// Deletes a file; one that is already gone is not an error.
    fn delete<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()>;
}

impl dyn FileStore {
    /// Writes a file held in memory.
    pub async fn put(&self, name: &str, bytes: Bytes) -> io::Result<()> {
        let body: ByteStream<'_> = Box::pin(futures_util::stream::iter([Ok(bytes)]));
        self.put_stream(name, body).await.map(drop)
    }

    /// Reads a whole file into memory; `None` when it does not exist.
    pub async fn read(&self, name: &str) -> io::Result<Option<Bytes>> {
        use futures_util::StreamExt;
        let Some(mut stream) = self.get(name).await? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(Some(Bytes::from(out)))
    }
}

/// A shared file store.
pub type Files = Arc<dyn FileStore>;

/// The file store the settings name.
pub fn from_config(config: &Config) -> anyhow::Result<Files> {
    Ok(match &config.storage {
        Storage::Local => Arc::new(LocalDisk::new(&config.upload_dest)),
        Storage::S3(s3) => Arc::new(S3Bucket::new(s3)?),
    })
}

/// Whether a name is a relative path of plain segments (`a/b.pdf`): names are the server's own,
/// this only keeps a bug from ever reaching outside the store.
fn safe_name(name: &str) -> io::Result<&str> {
    let plain = !name.is_empty()
        && name
            .split('/')
            .all(|s| !s.is_empty() && s != "." && s != ".." && !s.contains('\\'));
    if plain {
        Ok(name)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a file name of this server: {name:?}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_names_are_accepted() {
        assert!(safe_name("events/a.png").is_ok());
        assert!(safe_name("documents/1/2.pdf").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "a\\b", "a/."] {
            assert!(safe_name(bad).is_err(), "{bad}");
        }
    }
}
