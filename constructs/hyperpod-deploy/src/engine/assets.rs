//! Files the stacks need in S3: asset files, and templates over the inline limit in the staging bucket.

use std::path::Path;

use hyperpod_core::StackManifest;

use super::errors::describe;

/// The staging bucket `bootstrap` creates in an account and region, for large templates.
pub fn staging_bucket(account: &str, region: &str) -> String {
    format!("hyperpod-staging-{account}-{region}")
}

/// Uploads the files of an asset that are not in its bucket yet; returns how many were
/// sent and how many were already there.
pub(super) async fn upload_asset(
    s3: &aws_sdk_s3::Client,
    assembly_dir: &Path,
    asset: &hyperpod_core::AssetManifest,
) -> Result<(usize, usize), String> {
    let (mut sent, mut present) = (0, 0);
    for file in &asset.files {
        let key = format!("{}{file}", asset.object_key_prefix);
        if s3
            .head_object()
            .bucket(&asset.bucket_name)
            .key(&key)
            .send()
            .await
            .is_ok()
        {
            present += 1;
            continue;
        }
        let bytes = std::fs::read(assembly_dir.join(&asset.source).join(file))
            .map_err(|e| format!("cannot read {file}: {e}"))?;
        s3.put_object()
            .bucket(&asset.bucket_name)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| {
                format!(
                    "s3://{}/{key}: {}",
                    asset.bucket_name,
                    describe("PutObject", &e)
                )
            })?;
        sent += 1;
    }
    Ok((sent, present))
}

/// Puts a template over CloudFormation's inline limit into the staging bucket, once per
/// content, and returns its URL.
pub(super) async fn upload_template(
    s3: &aws_sdk_s3::Client,
    stack: &StackManifest,
    body: &str,
) -> Result<String, String> {
    let bucket = staging_bucket(&stack.account, &stack.region);
    let key = format!("templates/{}.json", stack.template_sha256);
    if s3
        .head_object()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .is_err()
    {
        s3.put_object()
            .bucket(&bucket)
            .key(&key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body.as_bytes().to_vec()))
            .send()
            .await
            .map_err(|e| {
                let failure = describe("PutObject", &e);
                // A missing staging bucket is the usual cause: bootstrap makes it.
                let advice = if failure.contains("NoSuchBucket") {
                    format!("; run `bootstrap` for account {} in {} first", stack.account, stack.region)
                } else {
                    String::new()
                };
                format!("the template is {} bytes, over the inline limit, and could not be staged in s3://{bucket}: {failure}{advice}", stack.template_bytes)
            })?;
    }
    Ok(format!(
        "https://{bucket}.s3.{}.amazonaws.com/{key}",
        stack.region
    ))
}
