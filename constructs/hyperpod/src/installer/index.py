"""The Kubernetes installer of a HyperPod EKS cluster: a CloudFormation custom-resource
provider that installs Helm releases and applies Kubernetes objects, run as a Lambda
function with a layer that puts kubectl, helm, git and aws-iam-authenticator on PATH (AWS's
quick-setup layer does).

Resource types and what each request does:

- Custom::HyperPodHelmRelease: Create and Update clone the chart's repository, check out
  the pinned revision, add the chart repositories, update the chart's dependencies and run
  `helm upgrade --install` without `--wait` (the chart's pods can only schedule once
  HyperPod adds nodes); Delete runs `helm uninstall`.
- Custom::KubernetesObjects: Create and Update wait for the namespaces and resource
  definitions the objects need (task governance creates team namespaces after the quota),
  apply the objects server-side,
  delete those an update dropped and set namespace labels; Delete deletes the objects and
  removes the labels.

CloudFormation turns every property value into a string, so objects, values and labels
arrive as JSON strings. Every request is answered, success or failure, before the
function's time runs out; a failure's reason ends with the failing tool's own last lines.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

HELM_RELEASE = "Custom::HyperPodHelmRelease"
KUBERNETES_OBJECTS = "Custom::KubernetesObjects"
FIELD_MANAGER = "hyperpod-constructs"
# Time kept back from the function's own timeout to answer CloudFormation.
ANSWER_MARGIN_SECONDS = 30
NAMESPACE_POLL_SECONDS = 10
# CloudFormation takes a response of at most 4 KiB; the reason gets a share of it.
REASON_LIMIT = 1500
LAST_LINES = 12
# Messages of kubectl and helm that mean the cluster itself is gone.
CLUSTER_GONE = ("Unable to connect to the server", "no such host", "connection refused", "Kubernetes cluster unreachable")


class Failure(Exception):
    """A step failed; the message is what CloudFormation shows as the reason."""


class Tools:
    """Runs kubectl, helm and git in a private working folder, each within the time left."""

    def __init__(self, workdir, deadline):
        self.workdir = workdir
        self.deadline = deadline
        self.kubeconfig = os.path.join(workdir, "kubeconfig")
        self.env = dict(
            os.environ,
            HOME=workdir,
            KUBECONFIG=self.kubeconfig,
            HELM_CACHE_HOME=os.path.join(workdir, "helm", "cache"),
            HELM_CONFIG_HOME=os.path.join(workdir, "helm", "config"),
            HELM_DATA_HOME=os.path.join(workdir, "helm", "data"),
        )

    def run(self, *args, tolerate=()):
        """Runs a command; a non-zero exit fails unless its output contains one of
        `tolerate`. Returns the completed process."""
        command = " ".join(args[:3])
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"no time was left to run `{command}`; raise the function's timeout")
        print("$", " ".join(args), flush=True)
        try:
            result = subprocess.run(list(args), capture_output=True, text=True, env=self.env, timeout=left)
        except FileNotFoundError:
            raise Failure(f"`{args[0]}` is not on PATH; the installer's layer must provide kubectl, helm, git and aws-iam-authenticator")
        except subprocess.TimeoutExpired:
            raise Failure(f"`{command}` did not finish before the function's time ran out")
        if result.stdout:
            print(result.stdout, flush=True)
        if result.stderr:
            print(result.stderr, flush=True)
        output = result.stderr + result.stdout
        if result.returncode != 0 and not any(text in output for text in tolerate):
            raise Failure(f"`{command}` failed with exit code {result.returncode}: {last_lines(result.stderr or result.stdout)}")
        return result

    def write(self, name, content):
        path = os.path.join(self.workdir, name)
        with open(path, "w") as file:
            file.write(content)
        return path


def last_lines(text):
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-LAST_LINES:]) or "no output"


def kubeconfig(props):
    """A kubeconfig for the cluster, authenticating as this function's role through
    aws-iam-authenticator. The endpoint and certificate come with the request when the
    stack created the cluster; otherwise they are read with eks:DescribeCluster."""
    name = props["ClusterName"]
    endpoint = props.get("Endpoint")
    authority = props.get("CertificateAuthorityData")
    if not endpoint or not authority:
        import boto3  # in the Lambda runtime; imported here so the common path needs none

        try:
            cluster = boto3.client("eks").describe_cluster(name=name)["cluster"]
        except Exception as error:
            raise Failure(f"cannot describe EKS cluster {name}: {error}")
        endpoint = cluster["endpoint"]
        authority = cluster["certificateAuthority"]["data"]
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws-iam-authenticator",
            "args": ["token", "-i", name],
            "interactiveMode": "Never",
        }
    }
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": authority}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    })


def helm_release_id(props):
    return f"{props['ClusterName']}/{props['Namespace']}/{props['Release']}"


def helm_install(tools, props):
    chart = props["Chart"]
    source = os.path.join(tools.workdir, "chart-source")
    tools.run("git", "clone", "--quiet", chart["Repository"], source)
    tools.run("git", "-C", source, "checkout", "--quiet", chart["Revision"])
    chart_dir = os.path.join(source, chart["Path"])
    repositories = props.get("Repositories", [])
    for repository in repositories:
        tools.run("helm", "repo", "add", repository["Name"], repository["Url"], "--force-update")
    if repositories:
        tools.run("helm", "repo", "update")
    tools.run("helm", "dependency", "update", chart_dir)
    values = tools.write("values.json", props.get("Values", "{}"))
    command = ["helm", "upgrade", "--install", props["Release"], chart_dir, "--namespace", props["Namespace"], "--values", values, "--history-max", "10"]
    if props.get("CreateNamespace") == "true":
        command.append("--create-namespace")
    tools.run(*command)
    return {"Release": props["Release"], "Revision": chart["Revision"]}


def helm_uninstall(tools, props):
    tools.run("helm", "uninstall", props["Release"], "--namespace", props["Namespace"], tolerate=("not found",))
    return {}


def objects_id(event, props):
    return f"{props['ClusterName']}/{event['LogicalResourceId']}"


def identity(item):
    metadata = item.get("metadata", {})
    return (item.get("apiVersion"), item.get("kind"), metadata.get("namespace", ""), metadata.get("name"))


def object_list(items):
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def wait_for(tools, kind, names, timeout, hint):
    """Waits until every object `kind/name` exists: task governance creates a team's
    namespace some time after its quota, and HyperPod's Karpenter installs its resource
    definitions once autoscaling is in service."""
    until = min(time.monotonic() + timeout, tools.deadline)
    for name in names:
        while True:
            found = tools.run("kubectl", "get", kind, name, "--ignore-not-found", "-o", "name")
            if found.stdout.strip():
                break
            if time.monotonic() + NAMESPACE_POLL_SECONDS > until:
                raise Failure(f"{kind} {name} did not appear within {timeout} s; {hint}")
            time.sleep(NAMESPACE_POLL_SECONDS)


def label_namespace(tools, namespace, labels, removed):
    arguments = [f"{key}={value}" for key, value in sorted(labels.items())] + [f"{key}-" for key in sorted(removed)]
    if arguments:
        tools.run("kubectl", "label", "namespace", namespace, *arguments, "--overwrite")


def objects_apply(tools, props, old_props):
    objects = json.loads(props.get("Objects", "[]"))
    labels = json.loads(props.get("NamespaceLabels", "{}"))
    timeout = int(props.get("WaitTimeoutSeconds", "600"))
    wait_for(tools, "namespace", props.get("WaitForNamespaces", []), timeout, "check that what creates it exists (task governance creates a team's namespace from its compute quota)")
    wait_for(tools, "customresourcedefinition", props.get("WaitForDefinitions", []), timeout, "check that what installs the definition is running")
    if old_props is not None:
        kept = {identity(item) for item in objects}
        dropped = [item for item in json.loads(old_props.get("Objects", "[]")) if identity(item) not in kept]
        if dropped:
            path = tools.write("dropped.json", object_list(dropped))
            tools.run("kubectl", "delete", "--ignore-not-found", "--wait=false", "-f", path)
    if objects:
        path = tools.write("objects.json", object_list(objects))
        tools.run("kubectl", "apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}", "-f", path)
    old_labels = json.loads(old_props.get("NamespaceLabels", "{}")) if old_props is not None else {}
    for namespace in sorted(set(labels) | set(old_labels)):
        wanted = labels.get(namespace, {})
        label_namespace(tools, namespace, wanted, set(old_labels.get(namespace, {})) - set(wanted))
    return {"Objects": str(len(objects))}


def objects_delete(tools, props):
    objects = json.loads(props.get("Objects", "[]"))
    if objects:
        path = tools.write("objects.json", object_list(objects))
        tools.run("kubectl", "delete", "--ignore-not-found", "--wait=false", "-f", path)
    for namespace, labels in sorted(json.loads(props.get("NamespaceLabels", "{}")).items()):
        exists = tools.run("kubectl", "get", "namespace", namespace, "--ignore-not-found", "-o", "name")
        if exists.stdout.strip():
            label_namespace(tools, namespace, {}, set(labels))
    return {}


def physical_id(event):
    """The resource's id: the release, or the objects' resource, in its cluster. A change of
    cluster, namespace or release gives a new id, and CloudFormation then deletes the old."""
    kind = event["ResourceType"]
    props = event["ResourceProperties"]
    if kind == HELM_RELEASE:
        return helm_release_id(props)
    if kind == KUBERNETES_OBJECTS:
        return objects_id(event, props)
    raise Failure(f"this installer does not handle {kind}")


def handle(event, physical, tools):
    """Does what the request asks; returns the data to answer with."""
    kind = event["ResourceType"]
    request = event["RequestType"]
    props = event["ResourceProperties"]
    with open(tools.kubeconfig, "w") as file:
        file.write(kubeconfig(props))
    if request == "Delete":
        try:
            data = helm_uninstall(tools, props) if kind == HELM_RELEASE else objects_delete(tools, props)
        except Failure as failure:
            if any(text in str(failure) for text in CLUSTER_GONE):
                print("the cluster is gone, so is what this resource installed:", failure)
                return {}
            raise
        return data
    if kind == HELM_RELEASE:
        return helm_install(tools, props)
    # On Update, objects an update dropped are deleted, unless the objects now go to
    # another cluster: then CloudFormation deletes the old resource with its own properties.
    same = request == "Update" and event.get("PhysicalResourceId") == physical
    return objects_apply(tools, props, event.get("OldResourceProperties") if same else None)


def respond(event, status, physical, reason="", data=None):
    body = json.dumps({
        "Status": status,
        "Reason": reason[:REASON_LIMIT],
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": data or {},
    }).encode()
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))})
    for attempt in range(5):
        try:
            with urllib.request.urlopen(request, timeout=30):
                return
        except (urllib.error.URLError, OSError) as error:
            print(f"answering CloudFormation failed (attempt {attempt + 1}): {error}", flush=True)
            time.sleep(2 ** attempt)
    raise RuntimeError("CloudFormation could not be answered")


def handler(event, context):
    """The Lambda entry point."""
    print(json.dumps({key: event.get(key) for key in ("RequestType", "ResourceType", "LogicalResourceId", "PhysicalResourceId")}), flush=True)
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - ANSWER_MARGIN_SECONDS
    workdir = tempfile.mkdtemp(prefix="installer-")
    # A failed Create still answers with the id it would have had, so that the Delete of
    # the rollback is about the same release or objects.
    physical = event.get("PhysicalResourceId") or event["LogicalResourceId"]
    try:
        physical = physical_id(event)
        data = handle(event, physical, Tools(workdir, deadline))
        respond(event, "SUCCESS", physical, data=data)
    except Exception as error:  # CloudFormation must hear back, whatever failed.
        if not isinstance(error, Failure):
            error = Failure(f"{type(error).__name__}: {error}")
        print("FAILED:", error, flush=True)
        reason = f"{str(error)[:REASON_LIMIT - 200]} (log stream {context.log_stream_name})"
        respond(event, "FAILED", physical, reason=reason)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
