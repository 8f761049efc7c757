"""Tests of the Kubernetes installer (constructs/hyperpod/src/installer/index.py), the code
that runs as a Lambda function in the cluster's account. It runs here as it runs there:
`kubectl`, `helm` and `git` are real executables on PATH (fakes that record their
arguments and can be told to fail or hang), and CloudFormation's response URL is a local
HTTP server that records the answer.

Run with `python -m unittest discover tests/python` (the Rust test `python` does).
"""

import http.server
import json
import os
import pathlib
import sys
import tempfile
import textwrap
import threading
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "constructs/hyperpod/src/installer"))
import index  # noqa: E402

REVISION = "a00b22d17ea928a6e39a43bd2efdafe01b1005ea"

# A fake tool: records its arguments (and the files it is given) to FAKE_LOG, fails when
# FAKE_FAIL names its command, sleeps when FAKE_HANG does, and answers `kubectl get
# namespace` for the namespaces listed in FAKE_NAMESPACES.
FAKE_TOOL = textwrap.dedent("""\
    #!{python}
    import json, os, sys, time
    tool = os.path.basename(sys.argv[0])
    args = sys.argv[1:]
    files = {{}}
    for flag in ("-f", "--values"):
        if flag in args:
            path = args[args.index(flag) + 1]
            files[flag] = json.load(open(path))
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps({{"tool": tool, "args": args, "files": files, "kubeconfig": os.environ.get("KUBECONFIG")}}) + "\\n")
    command = " ".join([tool] + args)
    if os.environ.get("FAKE_HANG") and command.startswith(os.environ["FAKE_HANG"]):
        time.sleep(30)
    if os.environ.get("FAKE_FAIL") and command.startswith(os.environ["FAKE_FAIL"]):
        sys.stderr.write(os.environ.get("FAKE_STDERR", "boom") + "\\n")
        sys.exit(1)
    if tool == "git" and args[0] == "clone":
        os.makedirs(os.path.join(args[-1], "helm_chart/HyperPodHelmChart"))
    if tool == "kubectl" and args[0] == "get":
        if args[2] in os.environ.get("FAKE_NAMESPACES", "").split(","):
            print(args[1] + "/" + args[2])
""")


class Recorder(http.server.BaseHTTPRequestHandler):
    """Stands in for CloudFormation's pre-signed response URL."""

    answers = []

    def do_PUT(self):
        length = int(self.headers["Content-Length"])
        Recorder.answers.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Context:
    log_stream_name = "2026/11/25/[$LATEST]test"

    def __init__(self, seconds=120):
        self.seconds = seconds

    def get_remaining_time_in_millis(self):
        return self.seconds * 1000


class InstallerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        bin_dir = pathlib.Path(self.folder.name) / "bin"
        bin_dir.mkdir()
        for tool in ("kubectl", "helm", "git"):
            path = bin_dir / tool
            path.write_text(FAKE_TOOL.format(python=sys.executable))
            path.chmod(0o755)
        self.log = pathlib.Path(self.folder.name) / "calls.jsonl"
        self.environment = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_LOG": str(self.log)}
        self.saved = dict(os.environ)
        os.environ.update(self.environment)
        Recorder.answers.clear()
        index.NAMESPACE_POLL_SECONDS = 0.05

    def tearDown(self):
        os.environ.clear()
        os.environ.update(self.saved)
        self.folder.cleanup()

    def event(self, request, resource_type, props, old=None, physical=None):
        event = {
            "RequestType": request,
            "ResourceType": resource_type,
            "ResponseURL": f"http://127.0.0.1:{self.server.server_port}/response",
            "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/Cluster/1",
            "RequestId": "request-1",
            "LogicalResourceId": "HyperPodHelmDependencies",
            "ResourceProperties": props,
        }
        if old is not None:
            event["OldResourceProperties"] = old
        if physical is not None:
            event["PhysicalResourceId"] = physical
        return event

    def run_handler(self, event, seconds=120):
        index.handler(event, Context(seconds))
        self.assertEqual(len(Recorder.answers), 1, "exactly one answer reaches CloudFormation")
        return Recorder.answers[0]

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def commands(self):
        return [[call["tool"]] + call["args"] for call in self.calls()]


def cluster(**extra):
    props = {
        "ServiceToken": "arn:aws:lambda:us-east-1:111111111111:function:installer",
        "ClusterName": "ml-cluster",
        "Endpoint": "https://ABC.gr7.us-east-1.eks.amazonaws.com",
        "CertificateAuthorityData": "Q0E=",
    }
    props.update(extra)
    return props


def release(**extra):
    props = cluster(
        Release="dependencies",
        Namespace="kube-system",
        Chart={"Repository": "https://github.com/aws/sagemaker-hyperpod-cli.git", "Revision": REVISION, "Path": "helm_chart/HyperPodHelmChart"},
        Repositories=[
            {"Name": "nvidia", "Url": "https://nvidia.github.io/k8s-device-plugin"},
            {"Name": "eks", "Url": "https://aws.github.io/eks-charts/"},
        ],
        Values=json.dumps({"health-monitoring-agent": {"enabled": True, "region": "us-east-1"}, "mpi-operator": {"enabled": False}}),
    )
    props.update(extra)
    return props


class HelmReleaseTest(InstallerTest):
    def test_create_installs_the_pinned_chart_without_waiting(self):
        answer = self.run_handler(self.event("Create", index.HELM_RELEASE, release()))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "ml-cluster/kube-system/dependencies")
        self.assertEqual(answer["Data"]["Revision"], REVISION)
        commands = self.commands()
        source = commands[0][-1]
        chart = f"{source}/helm_chart/HyperPodHelmChart"
        self.assertEqual(commands[0], ["git", "clone", "--quiet", "https://github.com/aws/sagemaker-hyperpod-cli.git", source])
        self.assertEqual(commands[1], ["git", "-C", source, "checkout", "--quiet", REVISION])
        self.assertEqual(commands[2], ["helm", "repo", "add", "nvidia", "https://nvidia.github.io/k8s-device-plugin", "--force-update"])
        self.assertEqual(commands[3], ["helm", "repo", "add", "eks", "https://aws.github.io/eks-charts/", "--force-update"])
        self.assertEqual(commands[4], ["helm", "repo", "update"])
        self.assertEqual(commands[5], ["helm", "dependency", "update", chart])
        upgrade = commands[6]
        self.assertEqual(upgrade[:5], ["helm", "upgrade", "--install", "dependencies", chart])
        self.assertIn("--namespace", upgrade)
        self.assertEqual(upgrade[upgrade.index("--namespace") + 1], "kube-system")
        self.assertNotIn("--wait", upgrade)
        self.assertEqual(len(commands), 7)
        # The values keep their JSON types: CloudFormation would have turned booleans into
        # strings, and helm reads the string "false" as true.
        values = self.calls()[6]["files"]["--values"]
        self.assertIs(values["mpi-operator"]["enabled"], False)
        self.assertIs(values["health-monitoring-agent"]["enabled"], True)

    def test_the_kubeconfig_names_the_cluster_and_authenticates_as_the_function(self):
        seen = {}
        original = index.Tools.run

        def spy(tools, *args, **kwargs):
            seen.setdefault("config", json.loads(pathlib.Path(tools.kubeconfig).read_text()))
            return original(tools, *args, **kwargs)

        index.Tools.run = spy
        try:
            answer = self.run_handler(self.event("Create", index.HELM_RELEASE, release()))
        finally:
            index.Tools.run = original
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        config = seen["config"]
        self.assertEqual(config["clusters"][0]["cluster"]["server"], "https://ABC.gr7.us-east-1.eks.amazonaws.com")
        self.assertEqual(config["clusters"][0]["cluster"]["certificate-authority-data"], "Q0E=")
        self.assertEqual(config["users"][0]["user"]["exec"]["command"], "aws-iam-authenticator")
        self.assertEqual(config["users"][0]["user"]["exec"]["args"], ["token", "-i", "ml-cluster"])

    def test_update_upgrades_the_release(self):
        old = release()
        new = release(Values=json.dumps({"mpi-operator": {"enabled": True}}))
        answer = self.run_handler(self.event("Update", index.HELM_RELEASE, new, old=old, physical="ml-cluster/kube-system/dependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "ml-cluster/kube-system/dependencies")
        upgrade = [call for call in self.calls() if call["args"][:2] == ["upgrade", "--install"]]
        self.assertEqual(len(upgrade), 1)
        self.assertIs(upgrade[0]["files"]["--values"]["mpi-operator"]["enabled"], True)

    def test_a_renamed_release_gets_a_new_id_so_cloudformation_deletes_the_old(self):
        answer = self.run_handler(self.event("Update", index.HELM_RELEASE, release(Release="hyperpod"), old=release(), physical="ml-cluster/kube-system/dependencies"))
        self.assertEqual(answer["PhysicalResourceId"], "ml-cluster/kube-system/hyperpod")

    def test_delete_uninstalls_the_release(self):
        answer = self.run_handler(self.event("Delete", index.HELM_RELEASE, release(), physical="ml-cluster/kube-system/dependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(self.commands(), [["helm", "uninstall", "dependencies", "--namespace", "kube-system"]])

    def test_delete_of_a_release_that_is_not_there_succeeds(self):
        os.environ.update(FAKE_FAIL="helm uninstall", FAKE_STDERR="Error: uninstall: Release not loaded: dependencies: release: not found")
        answer = self.run_handler(self.event("Delete", index.HELM_RELEASE, release(), physical="ml-cluster/kube-system/dependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])

    def test_delete_when_the_cluster_is_gone_succeeds(self):
        os.environ.update(FAKE_FAIL="helm uninstall", FAKE_STDERR="Error: Kubernetes cluster unreachable: dial tcp: lookup abc: no such host")
        answer = self.run_handler(self.event("Delete", index.HELM_RELEASE, release(), physical="ml-cluster/kube-system/dependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])

    def test_a_failing_helm_fails_the_resource_with_helms_last_lines(self):
        os.environ.update(FAKE_FAIL="helm upgrade", FAKE_STDERR="Error: UPGRADE FAILED: unable to build kubernetes objects\nfield is immutable")
        answer = self.run_handler(self.event("Create", index.HELM_RELEASE, release()))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("`helm upgrade --install` failed with exit code 1", answer["Reason"])
        self.assertIn("UPGRADE FAILED: unable to build kubernetes objects | field is immutable", answer["Reason"])
        self.assertIn("log stream", answer["Reason"])
        # The rollback's Delete will be about the same release.
        self.assertEqual(answer["PhysicalResourceId"], "ml-cluster/kube-system/dependencies")

    def test_a_failing_delete_fails_the_resource(self):
        os.environ.update(FAKE_FAIL="helm uninstall", FAKE_STDERR="Error: uninstallation completed with 1 error(s): context deadline exceeded")
        answer = self.run_handler(self.event("Delete", index.HELM_RELEASE, release(), physical="ml-cluster/kube-system/dependencies"))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("context deadline exceeded", answer["Reason"])

    def test_a_tool_that_hangs_is_stopped_and_answered_before_the_function_times_out(self):
        os.environ.update(FAKE_HANG="helm dependency")
        answer = self.run_handler(self.event("Create", index.HELM_RELEASE, release()), seconds=index.ANSWER_MARGIN_SECONDS + 2)
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("did not finish before the function's time ran out", answer["Reason"])

    def test_a_missing_tool_is_named(self):
        os.environ["PATH"] = "/nonexistent"
        answer = self.run_handler(self.event("Create", index.HELM_RELEASE, release()))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("`git` is not on PATH", answer["Reason"])

    def test_an_unknown_resource_type_is_refused(self):
        answer = self.run_handler(self.event("Create", "Custom::Other", release()))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("does not handle Custom::Other", answer["Reason"])

    def test_a_cluster_without_endpoint_is_described(self):
        from moto import mock_aws
        import boto3

        props = release()
        del props["Endpoint"]
        del props["CertificateAuthorityData"]
        with mock_aws():
            os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
            boto3.client("eks").create_cluster(name="ml-cluster", roleArn="arn:aws:iam::111111111111:role/eks", resourcesVpcConfig={"subnetIds": ["subnet-1"]})
            config = json.loads(index.kubeconfig(props))
        self.assertTrue(config["clusters"][0]["cluster"]["server"].startswith("https://"))
        with mock_aws():
            with self.assertRaisesRegex(index.Failure, "cannot describe EKS cluster ml-cluster"):
                index.kubeconfig(props)


def team_objects(**extra):
    objects = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "training", "namespace": "hyperpod-ns-vision"}, "automountServiceAccountToken": True},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "team", "namespace": "hyperpod-ns-vision"}, "rules": []},
    ]
    props = cluster(
        Objects=json.dumps(objects),
        WaitForNamespaces=["hyperpod-ns-vision"],
        WaitTimeoutSeconds="1",
        NamespaceLabels=json.dumps({"hyperpod-ns-vision": {"pod-security.kubernetes.io/enforce": "baseline"}}),
    )
    props.update(extra)
    return props


class KubernetesObjectsTest(InstallerTest):
    def test_create_waits_for_the_namespace_then_applies_server_side_and_labels(self):
        os.environ["FAKE_NAMESPACES"] = "hyperpod-ns-vision"
        answer = self.run_handler(self.event("Create", index.KUBERNETES_OBJECTS, team_objects()))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertEqual(answer["PhysicalResourceId"], "ml-cluster/HyperPodHelmDependencies")
        commands = self.commands()
        self.assertEqual(commands[0], ["kubectl", "get", "namespace", "hyperpod-ns-vision", "--ignore-not-found", "-o", "name"])
        self.assertEqual(commands[1][:5], ["kubectl", "apply", "--server-side", "--force-conflicts", "--field-manager=hyperpod-constructs"])
        applied = self.calls()[1]["files"]["-f"]
        self.assertEqual(applied["kind"], "List")
        self.assertEqual([item["kind"] for item in applied["items"]], ["ServiceAccount", "Role"])
        self.assertIs(applied["items"][0]["automountServiceAccountToken"], True)
        self.assertEqual(commands[2], ["kubectl", "label", "namespace", "hyperpod-ns-vision", "pod-security.kubernetes.io/enforce=baseline", "--overwrite"])

    def test_a_namespace_that_never_appears_fails_with_what_to_check(self):
        answer = self.run_handler(self.event("Create", index.KUBERNETES_OBJECTS, team_objects()))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("namespace hyperpod-ns-vision did not appear within 1 s", answer["Reason"])
        self.assertNotIn("apply", [arg for command in self.commands() for arg in command])

    def test_objects_wait_for_their_resource_definitions(self):
        os.environ["FAKE_NAMESPACES"] = "hyperpod-ns-vision"
        props = team_objects(WaitForDefinitions=["nodepools.karpenter.sh"])
        answer = self.run_handler(self.event("Create", index.KUBERNETES_OBJECTS, props))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("customresourcedefinition nodepools.karpenter.sh did not appear within 1 s", answer["Reason"])
        os.environ["FAKE_NAMESPACES"] = "hyperpod-ns-vision,nodepools.karpenter.sh"
        Recorder.answers.clear()
        answer = self.run_handler(self.event("Create", index.KUBERNETES_OBJECTS, props))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertIn(["kubectl", "get", "customresourcedefinition", "nodepools.karpenter.sh", "--ignore-not-found", "-o", "name"], self.commands())

    def test_update_deletes_the_objects_it_dropped_and_the_labels_it_dropped(self):
        os.environ["FAKE_NAMESPACES"] = "hyperpod-ns-vision"
        old = team_objects()
        new_objects = json.loads(old["Objects"])[:1]
        new = team_objects(Objects=json.dumps(new_objects), NamespaceLabels=json.dumps({"hyperpod-ns-vision": {"team": "vision"}}))
        answer = self.run_handler(self.event("Update", index.KUBERNETES_OBJECTS, new, old=old, physical="ml-cluster/HyperPodHelmDependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        deleted = [call for call in self.calls() if call["args"][0] == "delete"]
        self.assertEqual(len(deleted), 1)
        self.assertEqual([item["kind"] for item in deleted[0]["files"]["-f"]["items"]], ["Role"])
        labels = [command for command in self.commands() if command[1] == "label"]
        self.assertEqual(labels, [["kubectl", "label", "namespace", "hyperpod-ns-vision", "team=vision", "pod-security.kubernetes.io/enforce-", "--overwrite"]])

    def test_objects_moved_to_another_cluster_are_applied_whole_there(self):
        os.environ["FAKE_NAMESPACES"] = "hyperpod-ns-vision"
        new = team_objects(ClusterName="other-cluster")
        answer = self.run_handler(self.event("Update", index.KUBERNETES_OBJECTS, new, old=team_objects(), physical="ml-cluster/HyperPodHelmDependencies"))
        self.assertEqual(answer["PhysicalResourceId"], "other-cluster/HyperPodHelmDependencies")
        self.assertFalse([call for call in self.calls() if call["args"][0] == "delete"])

    def test_delete_removes_the_objects_and_the_labels(self):
        os.environ["FAKE_NAMESPACES"] = "hyperpod-ns-vision"
        answer = self.run_handler(self.event("Delete", index.KUBERNETES_OBJECTS, team_objects(), physical="ml-cluster/HyperPodHelmDependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        commands = self.commands()
        self.assertEqual(commands[0][:4], ["kubectl", "delete", "--ignore-not-found", "--wait=false"])
        self.assertEqual(commands[-1], ["kubectl", "label", "namespace", "hyperpod-ns-vision", "pod-security.kubernetes.io/enforce-", "--overwrite"])

    def test_delete_after_the_namespace_is_gone_leaves_labels_alone(self):
        answer = self.run_handler(self.event("Delete", index.KUBERNETES_OBJECTS, team_objects(), physical="ml-cluster/HyperPodHelmDependencies"))
        self.assertEqual(answer["Status"], "SUCCESS", answer["Reason"])
        self.assertFalse([command for command in self.commands() if command[1] == "label"])

    def test_a_failing_apply_fails_with_kubectls_last_lines(self):
        os.environ.update(FAKE_NAMESPACES="hyperpod-ns-vision", FAKE_FAIL="kubectl apply", FAKE_STDERR='Error from server (Forbidden): roles.rbac.authorization.k8s.io "team" is forbidden')
        answer = self.run_handler(self.event("Create", index.KUBERNETES_OBJECTS, team_objects()))
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn('roles.rbac.authorization.k8s.io "team" is forbidden', answer["Reason"])


class ResponseTest(InstallerTest):
    def test_an_unreachable_response_url_is_retried_then_raised(self):
        index_sleep = index.time.sleep
        index.time.sleep = lambda seconds: None
        try:
            event = self.event("Delete", index.HELM_RELEASE, release(), physical="x")
            event["ResponseURL"] = "http://127.0.0.1:9/closed"
            with self.assertRaises(RuntimeError):
                index.handler(event, Context())
        finally:
            index.time.sleep = index_sleep


if __name__ == "__main__":
    unittest.main()
