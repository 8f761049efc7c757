//! An example app that exercises the construct core with raw resources across two
//! accounts: a data bucket in one account, a same-account stack that imports the bucket's
//! ARN, and a role in a second account that reads the bucket through a deploy-time
//! parameter. The HyperPod apps replace it once the typed layer and the constructs exist.

use hyperpod_core::{
    App, CfnOutput, CfnResource, Environment, Expr, OutputProps, Pseudo, Stack, StackProps, Stage,
    TagFormat, Tags, Value, fns,
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
    let bucket = CfnResource::raw(
        &storage,
        "Bucket",
        "AWS::S3::Bucket",
        TagFormat::KeyValueList,
        json!({
            "VersioningConfiguration": { "Status": "Enabled" },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    { "ServerSideEncryptionByDefault": { "SSEAlgorithm": "AES256" } }
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": true,
                "BlockPublicPolicy": true,
                "IgnorePublicAcls": true,
                "RestrictPublicBuckets": true
            }
        }),
    );
    bucket.retain_on_delete_and_replace();
    let bucket_arn: Value<String> = bucket.get_att("Arn");
    let objects_arn = fns::join("", [bucket_arn.clone(), "/*".into()]);

    let policy = CfnResource::new(
        &storage,
        "BucketPolicy",
        "AWS::S3::BucketPolicy",
        TagFormat::NotTaggable,
        Default::default(),
    );
    policy.set_property("Bucket", bucket.ref_value());
    policy.set_property(
        "PolicyDocument",
        Expr::map([
            ("Version", "2012-10-17".into()),
            (
                "Statement",
                Expr::list([
                    statement_deny_insecure_transport(&bucket_arn, &objects_arn),
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
                            Expr::list([bucket_arn.clone().into(), objects_arn.clone().into()]),
                        ),
                    ]),
                ]),
            ),
        ]),
    );

    // A second stack in the same account and region: the bucket's ARN reaches it through
    // an export and Fn::ImportValue.
    let readers = Stack::new(&data, "LocalReaders", StackProps::default());
    let local_read = CfnResource::new(
        &readers,
        "ReadPolicy",
        "AWS::IAM::ManagedPolicy",
        TagFormat::NotTaggable,
        Default::default(),
    );
    local_read.set_property("Description", "Read access to the shared bucket");
    local_read.set_property("PolicyDocument", read_policy(&bucket_arn, &objects_arn));

    // A stage in another account: the bucket's ARN reaches it as a parameter the deploy
    // engine fills from the data stack's output.
    let analytics = Stage::new(&app, "analytics", Environment::new(READER_ACCOUNT, REGION));
    let access = Stack::new(&analytics, "Access", StackProps::default());
    Tags::of(&access).add("team", "analytics");
    let role = CfnResource::new(
        &access,
        "ReaderRole",
        "AWS::IAM::Role",
        TagFormat::KeyValueList,
        Default::default(),
    );
    role.set_property(
        "AssumeRolePolicyDocument",
        json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": "ec2.amazonaws.com" },
                "Action": "sts:AssumeRole"
            }]
        }),
    );
    role.set_property(
        "Policies",
        Expr::list([Expr::map([
            ("PolicyName", "read-shared-bucket".into()),
            ("PolicyDocument", read_policy(&bucket_arn, &objects_arn)),
        ])]),
    );
    CfnOutput::new(
        &access,
        "ReaderRoleArn",
        OutputProps {
            description: Some("The role that reads the shared bucket".into()),
            ..OutputProps::new(role.get_att("Arn"))
        },
    );
    CfnOutput::new(
        &storage,
        "BucketRegion",
        OutputProps::new(Pseudo::Region.value()),
    );
    app
}

fn statement_deny_insecure_transport(
    bucket_arn: &Value<String>,
    objects_arn: &Value<String>,
) -> Expr {
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
