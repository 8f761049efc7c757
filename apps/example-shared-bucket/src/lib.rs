//! An example app that exercises the construct core and the typed resources across two
//! accounts: a data bucket in one account, a same-account stack that imports the bucket's
//! ARN, and a role in a second account that reads the bucket through a deploy-time
//! parameter. The HyperPod apps replace it once the HyperPod constructs exist.

use hyperpod_cfn::{iam, s3};
use hyperpod_core::{
    App, CfnOutput, Environment, Expr, OutputProps, Pseudo, Scope, Stack, StackProps, Stage, Tags,
    Value, fns,
};
use serde_json::json;

/// The account that holds the data.
pub const DATA_ACCOUNT: &str = "111111111111";
/// The account whose role reads the data.
pub const READER_ACCOUNT: &str = "222222222222";
/// The region of both stages.
pub const REGION: &str = "us-east-1";

/// Builds the app.
pub fn app() -> App {
    let app = App::new("example-shared-bucket");
    Tags::of(&app).add("project", "example-shared-bucket");

    let data = Stage::new(&app, "data", Environment::new(DATA_ACCOUNT, REGION));
    let storage = Stack::new(
        &data,
        "Storage",
        StackProps {
            description: Some("A versioned, encrypted bucket shared with a reader account".into()),
            termination_protection: true,
            ..StackProps::default()
        },
    );
    let bucket = s3::CfnBucket::new(
        &storage,
        "Bucket",
        s3::BucketProps {
            versioning_configuration: Some(
                s3::bucket::VersioningConfiguration::new(
                    s3::bucket::VersioningConfigurationStatus::Enabled,
                )
                .into(),
            ),
            bucket_encryption: Some(
                s3::bucket::BucketEncryption::new(vec![s3::bucket::ServerSideEncryptionRule {
                    server_side_encryption_by_default: Some(
                        s3::bucket::ServerSideEncryptionByDefault::new(
                            s3::bucket::ServerSideEncryptionByDefaultSSEAlgorithm::Aes256,
                        )
                        .into(),
                    ),
                    ..Default::default()
                }])
                .into(),
            ),
            public_access_block_configuration: Some(
                s3::bucket::PublicAccessBlockConfiguration {
                    block_public_acls: Some(true.into()),
                    block_public_policy: Some(true.into()),
                    ignore_public_acls: Some(true.into()),
                    restrict_public_buckets: Some(true.into()),
                }
                .into(),
            ),
            ..Default::default()
        },
    );
    bucket.retain_on_delete_and_replace();
    bucket.node().suppress(
        "S3_ACCESS_LOGS",
        "an example of imports and cross-account parameters that holds no data; the HyperPod apps log access to their buckets",
    );
    let bucket_arn = bucket.arn();
    let objects_arn = fns::join("", [bucket_arn.clone(), "/*".into()]);

    s3::CfnBucketPolicy::new(
        &storage,
        "BucketPolicy",
        s3::BucketPolicyProps::new(
            bucket.ref_value(),
            Expr::map([
                ("Version", "2012-10-17".into()),
                (
                    "Statement",
                    Expr::list([
                        deny_insecure_transport(&bucket_arn, &objects_arn),
                        Expr::map([
                            ("Sid", "ReaderAccountReads".into()),
                            ("Effect", "Allow".into()),
                            (
                                "Principal",
                                Expr::map([(
                                    "AWS",
                                    fns::sub(
                                        "arn:${AWS::Partition}:iam::${account}:root",
                                        [("account", READER_ACCOUNT.into())],
                                    )
                                    .into(),
                                )]),
                            ),
                            (
                                "Action",
                                Expr::list(["s3:GetObject".into(), "s3:ListBucket".into()]),
                            ),
                            (
                                "Resource",
                                Expr::list([(&bucket_arn).into(), (&objects_arn).into()]),
                            ),
                        ]),
                    ]),
                ),
            ]),
        ),
    );
    CfnOutput::new(
        &storage,
        "BucketRegion",
        OutputProps::new(Pseudo::Region.value()),
    );

    // A second stack in the same account and region: the bucket's ARN reaches it through
    // an export and Fn::ImportValue.
    let readers = Stack::new(&data, "LocalReaders", StackProps::default());
    iam::CfnManagedPolicy::new(
        &readers,
        "ReadPolicy",
        iam::ManagedPolicyProps {
            description: Some("Read access to the shared bucket".into()),
            ..iam::ManagedPolicyProps::new(read_policy(&bucket_arn, &objects_arn))
        },
    );

    // A stage in another account: the bucket's ARN reaches it as a parameter the deploy
    // engine fills from the data stack's output.
    let analytics = Stage::new(&app, "analytics", Environment::new(READER_ACCOUNT, REGION));
    let access = Stack::new(&analytics, "Access", StackProps::default());
    Tags::of(&access).add("team", "analytics");
    let role = iam::CfnRole::new(
        &access,
        "ReaderRole",
        iam::RoleProps {
            policies: Some(
                vec![iam::role::Policy::new(
                    read_policy(&bucket_arn, &objects_arn),
                    "read-shared-bucket",
                )]
                .into(),
            ),
            ..iam::RoleProps::new(json!({
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "ec2.amazonaws.com" },
                    "Action": "sts:AssumeRole"
                }]
            }))
        },
    );
    CfnOutput::new(
        &access,
        "ReaderRoleArn",
        OutputProps {
            description: Some("The role that reads the shared bucket".into()),
            ..OutputProps::new(role.arn())
        },
    );
    app
}

fn deny_insecure_transport(bucket_arn: &Value<String>, objects_arn: &Value<String>) -> Expr {
    Expr::map([
        ("Sid", "DenyInsecureTransport".into()),
        ("Effect", "Deny".into()),
        ("Principal", "*".into()),
        ("Action", "s3:*".into()),
        (
            "Resource",
            Expr::list([bucket_arn.into(), objects_arn.into()]),
        ),
        (
            "Condition",
            json!({ "Bool": { "aws:SecureTransport": "false" } }).into(),
        ),
    ])
}

fn read_policy(bucket_arn: &Value<String>, objects_arn: &Value<String>) -> Expr {
    Expr::map([
        ("Version", "2012-10-17".into()),
        (
            "Statement",
            Expr::list([Expr::map([
                ("Effect", "Allow".into()),
                (
                    "Action",
                    Expr::list(["s3:GetObject".into(), "s3:ListBucket".into()]),
                ),
                (
                    "Resource",
                    Expr::list([bucket_arn.into(), objects_arn.into()]),
                ),
            ])]),
        ),
    ])
}
