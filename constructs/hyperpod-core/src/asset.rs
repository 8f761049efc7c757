//! File assets: files a stack needs uploaded before it deploys (such as lifecycle
//! scripts). Synthesis copies them into the cloud assembly under `assets/<hash>/`, so the
//! deploy engine uploads exactly what was reviewed, and records them in the manifest.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::stack::Stack;
use crate::tree::{NodeKind, Scope};

/// Where a file asset goes: an S3 bucket by name and a key prefix below which the files
/// keep their relative paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetDestination {
    /// The bucket's name; it must exist before the stack that needs the asset deploys.
    pub bucket_name: String,
    /// The prefix of the keys, ending with `/` (the content hash is appended below it).
    pub key_prefix: String,
}

pub(crate) struct AssetData {
    pub(crate) destination: AssetDestination,
    /// The files read at construction, or why they could not be read.
    pub(crate) files: Result<Vec<(String, Vec<u8>)>, String>,
    pub(crate) hash: String,
}

/// A file or folder to upload before its stack deploys.
#[derive(Clone, Debug)]
pub struct FileAsset {
    node: crate::tree::Node,
}

impl FileAsset {
    /// Declares an asset of `stack`, read now from `source` (a file or a folder).
    pub fn new(stack: &Stack, id: &str, source: &Path, destination: AssetDestination) -> FileAsset {
        let files = read_asset(source).map_err(|error| error.to_string());
        let hash = match &files {
            Ok(files) => hash(files),
            Err(_) => "unreadable".to_owned(),
        };
        let unreadable = files.as_ref().err().cloned();
        let node = stack.node().add_child(
            id,
            NodeKind::Asset(Box::new(AssetData {
                destination: destination.clone(),
                files,
                hash,
            })),
        );
        if let Some(error) = unreadable {
            node.report(
                "asset_unreadable",
                format!(
                    "cannot read asset {}: {error}; check the path",
                    source.display()
                ),
            );
        }
        if !destination.key_prefix.is_empty() && !destination.key_prefix.ends_with('/') {
            node.report(
                "invalid_asset_prefix",
                format!(
                    "key prefix `{}` must end with `/`; add it",
                    destination.key_prefix
                ),
            );
        }
        FileAsset { node }
    }

    /// The S3 URI of the folder the files land in: `s3://<bucket>/<prefix><hash>/`. It
    /// changes with the content, so an unchanged asset is never uploaded again.
    pub fn s3_uri(&self) -> String {
        self.node.with(|data| match &data.kind {
            NodeKind::Asset(asset) => format!(
                "s3://{}/{}",
                asset.destination.bucket_name,
                object_prefix(asset)
            ),
            _ => unreachable!("a FileAsset handle always points at an asset"),
        })
    }
}

impl Scope for FileAsset {
    fn node(&self) -> &crate::tree::Node {
        &self.node
    }
}

/// The key prefix of an asset's files in its bucket.
pub(crate) fn object_prefix(asset: &AssetData) -> String {
    format!("{}{}/", asset.destination.key_prefix, asset.hash)
}

/// The files of an asset, with paths relative to the source, sorted.
pub(crate) fn read_asset(source: &Path) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut files = Vec::new();
    if source.is_file() {
        let name = source
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((name, std::fs::read(source)?));
        return Ok(files);
    }
    let mut pending = vec![source.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(source)
                    .expect("below the source")
                    .to_string_lossy()
                    .replace('\\', "/");
                files.push((relative, std::fs::read(&path)?));
            }
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(std::io::Error::other("the folder holds no file"));
    }
    Ok(files)
}

/// The content hash of an asset: its file names and contents.
pub(crate) fn hash(files: &[(String, Vec<u8>)]) -> String {
    let mut digest = Sha256::new();
    for (name, contents) in files {
        digest.update((name.len() as u64).to_be_bytes());
        digest.update(name.as_bytes());
        digest.update((contents.len() as u64).to_be_bytes());
        digest.update(contents);
    }
    crate::synth::hex(&digest.finalize())
}
