//! Files in an S3-compatible bucket through `object_store`. A file up to [`SINGLE_PUT_MAX`] is
//! sent in one `PUT` once its stream has ended (S3 makes an object visible only when its `PUT`
//! completes); a larger one goes as a multipart upload, completed at the end or aborted on
//! failure, so a partial object is never visible either.

use std::io;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use tokio::io::AsyncWriteExt;

use super::{ByteStream, FileStore, StoreFuture, safe_name};
use crate::config::S3Config;

/// Largest file sent as one `PUT` (buffered in memory meanwhile); above, a multipart upload.
const SINGLE_PUT_MAX: usize = 16 * 1024 * 1024;

/// Files in one bucket.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    store: Arc<dyn ObjectStore>,
}

impl S3Bucket {
    /// A client of the configured bucket (nothing is sent until the first file).
    pub fn new(config: &S3Config) -> anyhow::Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(config.secret_access_key.expose());
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .map_err(|e| anyhow::anyhow!("S3 storage settings: {e}"))?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    fn path(name: &str) -> io::Result<Path> {
        Ok(Path::from(safe_name(name)?))
    }
}

impl FileStore for S3Bucket {
    fn put_stream<'a>(&'a self, name: &'a str, mut body: ByteStream<'a>) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut writer = BufWriter::with_capacity(
                Arc::clone(&self.store),
                Self::path(name)?,
                SINGLE_PUT_MAX,
            );
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let written = match chunk {
                    Ok(chunk) => {
                        size += chunk.len() as u64;
                        writer.put(chunk).await.map_err(io::Error::from)
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = written {
                    if let Err(abort) = writer.abort().await {
                        tracing::warn!(error = %abort, file = name, "could not abort an S3 upload");
                    }
                    return Err(e);
                }
            }
            writer.shutdown().await?;
            Ok(size)
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> StoreFuture<'a, Option<ByteStream<'static>>> {
        Box::pin(async move {
            match self.store.get(&Self::path(name)?).await {
                Ok(found) => {
                    let stream: ByteStream<'static> =
                        Box::pin(found.into_stream().map_err(io::Error::from));
                    Ok(Some(stream))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            match self.store.delete(&Self::path(name)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    //! Against a small fake S3 on the loopback interface: what `object_store` sends is checked
    //! (method, bucket and key in the path, a SigV4 signature), nothing leaves the machine.
    //! `object_store` deletes through the batch API (`POST /{bucket}?delete`, keys in the body).

    use std::collections::HashMap;
    use std::sync::Mutex;

    use axum::Router;
    use axum::body::Bytes;
    use axum::extract::{Path as UrlPath, State};
    use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
    use axum::response::{IntoResponse, Response};

    use super::*;
    use crate::config::Secret;

    #[derive(Default)]
    struct FakeS3 {
        objects: Mutex<HashMap<String, Bytes>>,
        /// Method, path and `authorization` header of every request.
        seen: Mutex<Vec<(Method, String, String)>>,
    }

    async fn object(
        State(fake): State<Arc<FakeS3>>,
        method: Method,
        UrlPath(path): UrlPath<String>,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        fake.seen
            .lock()
            .unwrap()
            .push((method.clone(), uri.to_string(), auth));
        let mut objects = fake.objects.lock().unwrap();
        let meta = [
            (header::ETAG, "\"etag-1\""),
            (header::LAST_MODIFIED, "Tue, 01 Dec 2026 10:00:00 GMT"),
        ];
        match method {
            Method::PUT => {
                objects.insert(path, body);
                (StatusCode::OK, meta).into_response()
            }
            Method::GET => match objects.get(&path) {
                Some(bytes) => (StatusCode::OK, meta, bytes.clone()).into_response(),
                None => (
                    StatusCode::NOT_FOUND,
                    "<Error><Code>NoSuchKey</Code><Message>missing</Message></Error>",
                )
                    .into_response(),
            },
            // Deletes come as a batch: `POST /{bucket}?delete` listing the keys.
            Method::POST if uri.query() == Some("delete") => {
                let text = String::from_utf8_lossy(&body);
                let mut deleted = String::new();
                for key in text
                    .split("<Key>")
                    .skip(1)
                    .filter_map(|k| k.split("</Key>").next())
                {
                    objects.remove(&format!("{path}/{key}"));
                    deleted.push_str(&format!("<Deleted><Key>{key}</Key></Deleted>"));
                }
                (
                    StatusCode::OK,
                    format!("<DeleteResult>{deleted}</DeleteResult>"),
                )
                    .into_response()
            }
            _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        }
    }

    async fn fake_s3() -> (Arc<FakeS3>, String) {
        let fake = Arc::new(FakeS3::default());
        let app = Router::new()
            .route("/{*path}", axum::routing::any(object))
            .with_state(Arc::clone(&fake));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, format!("http://{addr}"))
    }

    fn bucket(endpoint: &str) -> S3Bucket {
        crate::notify::install_crypto_provider();
        S3Bucket::new(&S3Config {
            bucket: "docs".into(),
            endpoint: Some(endpoint.into()),
            region: "eu-west-1".into(),
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG"),
        })
        .unwrap()
    }

    #[tokio::test]
    async fn files_are_put_read_and_deleted_as_signed_requests_on_the_bucket() {
        let (fake, endpoint) = fake_s3().await;
        let store: &dyn FileStore = &bucket(&endpoint);
        let body: ByteStream<'_> = Box::pin(futures_util::stream::iter([
            Ok(Bytes::from_static(b"%PDF-1.7 ")),
            Ok(Bytes::from_static(b"rest")),
        ]));
        assert_eq!(
            store.put_stream("documents/a/b.pdf", body).await.unwrap(),
            13
        );
        assert_eq!(
            store.read("documents/a/b.pdf").await.unwrap().unwrap(),
            "%PDF-1.7 rest"
        );
        assert!(store.read("documents/a/none.pdf").await.unwrap().is_none());
        store.delete("documents/a/b.pdf").await.unwrap();
        assert!(fake.objects.lock().unwrap().is_empty());

        let seen = fake.seen.lock().unwrap().clone();
        let calls: Vec<(Method, &str)> = seen
            .iter()
            .map(|(m, p, _)| (m.clone(), p.as_str()))
            .collect();
        assert_eq!(
            calls,
            [
                (Method::PUT, "/docs/documents/a/b.pdf"),
                (Method::GET, "/docs/documents/a/b.pdf"),
                (Method::GET, "/docs/documents/a/none.pdf"),
                (Method::POST, "/docs?delete"),
            ]
        );
        for (_, _, auth) in &seen {
            assert!(
                auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
                    && auth.contains("/eu-west-1/s3/aws4_request")
                    && auth.contains("Signature="),
                "{auth}"
            );
        }
    }

    #[tokio::test]
    async fn a_stream_that_fails_sends_nothing() {
        let (fake, endpoint) = fake_s3().await;
        let store = bucket(&endpoint);
        let body: ByteStream<'_> = Box::pin(futures_util::stream::iter([
            Ok(Bytes::from_static(b"%PDF-")),
            Err(io::Error::new(io::ErrorKind::FileTooLarge, "cap")),
        ]));
        let err = store.put_stream("documents/x.pdf", body).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(fake.seen.lock().unwrap().is_empty());
    }
}
