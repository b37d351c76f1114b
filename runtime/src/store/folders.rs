//! Buckets as folders (`--buckets DIR`): bucket `B` is the folder `DIR/B` (made by the
//! operator: a missing one is `NoSuchBucket`), an object's key its path inside. Nothing outside
//! a bucket's folder can be read or written: bucket names follow S3's rules, keys may not climb
//! (`..`) or start at the root, and a symbolic link that leads out of the bucket is refused.
//! Objects are written to a hidden part file beside their place and renamed into it when
//! committed, so a reader never sees half an object.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::buckets::{BucketError, Buckets, ObjectInfo, ObjectWriter};

/// The suffix of objects being written (never listed).
const PART: &str = ".wasmstep-part";

pub struct FolderBuckets {
    root: PathBuf,
}

fn io(what: &str, path: &Path, e: std::io::Error) -> BucketError {
    BucketError::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// S3's bucket naming rules: 3 to 63 lowercase letters, digits, dots and hyphens, starting and
/// ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), BucketError> {
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric())
        && !bucket.contains("..");
    if ok {
        Ok(())
    } else {
        Err(BucketError::Refused(format!(
            "'{bucket}' is not a bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"
        )))
    }
}

/// A key as a relative path: 1 to 1024 bytes, no empty, `.` or `..` segment, no NUL.
fn check_key(bucket: &str, key: &str) -> Result<PathBuf, BucketError> {
    let refused = |why: &str| {
        Err(BucketError::Refused(format!(
            "the key '{key}' of the bucket '{bucket}' {why}"
        )))
    };
    if key.is_empty() || key.len() > 1024 {
        return refused("must have 1 to 1024 bytes");
    }
    if key.contains('\0') || key.contains('\\') {
        return refused("has a character no file name can have here");
    }
    let mut path = PathBuf::new();
    for seg in key.split('/') {
        match seg {
            "" | "." | ".." => {
                return refused("would leave its bucket or names no object (empty, '.' or '..' segment)");
            }
            s if s.ends_with(PART) => return refused("ends like an object being written"),
            s => path.push(s),
        }
    }
    Ok(path)
}

impl FolderBuckets {
    /// Buckets under `root` (which must exist).
    pub fn new(root: &Path) -> Result<FolderBuckets, String> {
        let root = root
            .canonicalize()
            .map_err(|e| format!("the buckets folder {}: {e}", root.display()))?;
        if !root.is_dir() {
            return Err(format!("the buckets folder {} is not a directory", root.display()));
        }
        Ok(FolderBuckets { root })
    }

    /// The bucket's folder (resolved), which must exist.
    fn bucket_dir(&self, bucket: &str) -> Result<PathBuf, BucketError> {
        check_bucket(bucket)?;
        let dir = self.root.join(bucket);
        match dir.canonicalize() {
            Ok(d) if d.is_dir() && d.starts_with(&self.root) => Ok(d),
            Ok(_) => Err(BucketError::Refused(format!(
                "the bucket '{bucket}' is not a folder inside {}",
                self.root.display()
            ))),
            Err(_) => Err(BucketError::NoSuchBucket(bucket.to_string())),
        }
    }

    /// Where an existing object is, checked to be inside its bucket after links are followed.
    fn object_path(&self, bucket: &str, key: &str) -> Result<PathBuf, BucketError> {
        let dir = self.bucket_dir(bucket)?;
        let path = dir.join(check_key(bucket, key)?);
        let missing = || BucketError::NoSuchKey {
            bucket: bucket.to_string(),
            key: key.to_string(),
        };
        let real = path.canonicalize().map_err(|_| missing())?;
        if !real.starts_with(&dir) {
            return Err(BucketError::Refused(format!(
                "the object '{key}' of the bucket '{bucket}' is a link that leads out of the bucket"
            )));
        }
        if !real.is_file() {
            return Err(missing());
        }
        Ok(real)
    }
}

/// Every file under `dir` (not following links to folders), as keys relative to `base`.
fn walk(dir: &Path, base: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) -> Result<(), BucketError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io("list", dir, e))?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(base) else { continue };
        let Some(key) = rel.to_str().map(|k| k.replace(std::path::MAIN_SEPARATOR, "/")) else {
            // Not UTF-8: no S3 key names it.
            continue;
        };
        let kind = entry.file_type().map_err(|e| io("list", &path, e))?;
        if kind.is_dir() {
            // Only the folders the prefix can reach: one it goes into, or one inside it.
            let folder = format!("{key}/");
            if prefix.starts_with(&folder) || folder.starts_with(prefix) {
                walk(&path, base, prefix, out)?;
            }
        } else if kind.is_file() && key.starts_with(prefix) && !key.ends_with(PART) {
            out.push((key, path));
        }
    }
    Ok(())
}

/// An entity tag from what identifies a version of the file (not its MD5, which would mean
/// reading every listed object).
fn etag(key: &str, size: u64, modified: std::time::SystemTime) -> String {
    let nanos = modified
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let digest = Sha256::digest(format!("{key}\n{size}\n{nanos}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

impl Buckets for FolderBuckets {
    fn open(&self, bucket: &str, key: &str) -> Result<Box<dyn Read + Send>, BucketError> {
        let path = self.object_path(bucket, key)?;
        let f = File::open(&path).map_err(|e| io("read", &path, e))?;
        Ok(Box::new(f))
    }

    fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ObjectInfo>, BucketError> {
        let dir = self.bucket_dir(bucket)?;
        let mut files = Vec::new();
        walk(&dir, &dir, prefix, &mut files)?;
        // S3 lists keys in UTF-8 byte order.
        files.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut out = Vec::with_capacity(files.len());
        for (key, path) in files {
            let meta = std::fs::metadata(&path).map_err(|e| io("read", &path, e))?;
            let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
            out.push(ObjectInfo {
                etag: etag(&key, meta.len(), modified),
                size: meta.len(),
                modified: modified
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or_default(),
                key,
            });
        }
        Ok(out)
    }

    fn create(&self, bucket: &str, key: &str) -> Result<Box<dyn ObjectWriter>, BucketError> {
        let dir = self.bucket_dir(bucket)?;
        let rel = check_key(bucket, key)?;
        let path = dir.join(&rel);
        let parent = path.parent().unwrap_or(&dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|e| io("create", &parent, e))?;
        // The folders on the way must still be inside the bucket (no link out).
        let real_parent = parent.canonicalize().map_err(|e| io("create", &parent, e))?;
        if !real_parent.starts_with(&dir) {
            return Err(BucketError::Refused(format!(
                "the key '{key}' of the bucket '{bucket}' goes through a link that leads out of the bucket"
            )));
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("object");
        let part = real_parent.join(format!(".{name}.{}{PART}", uuid::Uuid::new_v4().simple()));
        let file = File::create(&part).map_err(|e| io("create", &part, e))?;
        Ok(Box::new(FolderObject {
            file: BufWriter::new(file),
            part,
            path: real_parent.join(name),
            committed: false,
        }))
    }
}

struct FolderObject {
    file: BufWriter<File>,
    part: PathBuf,
    path: PathBuf,
    committed: bool,
}

impl Write for FolderObject {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl ObjectWriter for FolderObject {
    fn commit(mut self: Box<Self>) -> Result<u64, BucketError> {
        self.file.flush().map_err(|e| io("write", &self.part, e))?;
        let file = self.file.get_ref();
        file.sync_all().map_err(|e| io("write", &self.part, e))?;
        let size = file.metadata().map_err(|e| io("write", &self.part, e))?.len();
        std::fs::rename(&self.part, &self.path).map_err(|e| io("write", &self.path, e))?;
        self.committed = true;
        Ok(size)
    }
}

impl Drop for FolderObject {
    fn drop(&mut self) {
        // Not committed (an error, a stopped execution): leave nothing behind.
        if !self.committed {
            let _ = std::fs::remove_file(&self.part);
        }
    }
}
