# Installs the Helm chart HyperPod needs into an EKS cluster, as a CloudFormation custom
# resource. Runs with a layer that provides kubectl, helm and git under /opt.
import json
import os
import subprocess
import urllib.request

import boto3

OPT = "/opt/awscli:/opt/kubectl:/opt/helm:/opt/git/bin:/opt/bin"


def run(*args, env=None):
    print("running:", " ".join(args))
    result = subprocess.run(args, capture_output=True, text=True, env=env)
    print(result.stdout)
    if result.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {result.stderr.strip()[-900:]}")
    return result.stdout


def respond(event, context, status, reason=""):
    body = json.dumps({
        "Status": status,
        "Reason": reason or f"see log stream {context.log_stream_name}",
        "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {"Release": event["ResourceProperties"]["ReleaseName"]},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=30)


def handler(event, context):
    props = event["ResourceProperties"]
    env = dict(os.environ, PATH=OPT + ":" + os.environ.get("PATH", ""), HOME="/tmp", KUBECONFIG="/tmp/kubeconfig")
    try:
        if event["RequestType"] in ("Create", "Update"):
            cluster = boto3.client("eks").describe_cluster(name=props["ClusterName"])["cluster"]
            run("aws", "eks", "update-kubeconfig", "--name", cluster["name"], "--kubeconfig", "/tmp/kubeconfig", env=env)
            run("rm", "-rf", "/tmp/chart-repo", env=env)
            run("git", "clone", "--depth", "1", props["ChartRepository"], "/tmp/chart-repo", env=env)
            chart = os.path.join("/tmp/chart-repo", props["ChartPath"])
            run("helm", "dependency", "build", chart, env=env)
            run("helm", "upgrade", "--install", props["ReleaseName"], chart, "--namespace", props["Namespace"], "--wait", "--timeout", "8m", env=env)
        respond(event, context, "SUCCESS")
    except Exception as error:  # CloudFormation must hear back, whatever failed.
        print("error:", error)
        respond(event, context, "FAILED", str(error)[:900])
