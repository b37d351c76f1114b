//! Buckets: where a Distributed Map reads its dataset (`ItemReader`: `s3:getObject`,
//! `s3:listObjectsV2`) and writes its results (`ResultWriter`). S3's shape — a bucket name, an
//! object key, a listing by prefix — over whatever holds the objects; `folders.rs` keeps them
//! as files (`--buckets DIR`: bucket `B` is the folder `DIR/B`, a key its path inside).

use std::io::{Read, Write};

/// One object of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Last modified, in seconds since the epoch.
    pub modified: i64,
    /// An entity tag (quoted, as S3 gives it): changes when the object does.
    pub etag: String,
}

/// Why a bucket operation failed; `Display` says what and where.
#[derive(Debug, Clone, PartialEq)]
pub enum BucketError {
    NoSuchBucket(String),
    NoSuchKey {
        bucket: String,
        key: String,
    },
    /// A name or key that would leave the bucket, or that no object can have.
    Refused(String),
    Io(String),
}

impl std::fmt::Display for BucketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BucketError::NoSuchBucket(b) => write!(f, "the bucket '{b}' does not exist"),
            BucketError::NoSuchKey { bucket, key } => {
                write!(f, "the object '{key}' does not exist in the bucket '{bucket}'")
            }
            BucketError::Refused(why) | BucketError::Io(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for BucketError {}

/// An object being written: nothing is visible under its key until `commit`.
pub trait ObjectWriter: Write + Send {
    /// Makes the object durable and visible; returns its size.
    fn commit(self: Box<Self>) -> Result<u64, BucketError>;
}

pub trait Buckets: Send + Sync {
    /// Reads an object.
    fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn Read + Send>, BucketError>;
    /// The objects whose keys start with `prefix`, in key order (as ListObjectsV2 gives them).
    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, BucketError>;
    /// Starts writing an object (replacing any of that key when committed).
    fn create(&self, bucket: &str, key: &str) -> Result<Box<dyn ObjectWriter>, BucketError>;
}
