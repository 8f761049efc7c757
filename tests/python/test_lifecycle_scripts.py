"""Tests of the lifecycle scripts that run on HyperPod nodes:

- the Slurm login-node script the constructs add (constructs/hyperpod/src/slurm/login_node.sh)
  and its entry script (on_init_complete.sh), with a fake `aws` on PATH that keeps Secrets
  Manager, SSM and target-group state in a file, as the services would;
- the EKS node set-up of the platform app (apps/hyperpod-platform/lifecycle-scripts/
  on_create_main.sh), run against a folder standing in for the node's root.

Every script runs as bash runs it on a node: real subprocesses, real files.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import textwrap
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SLURM = ROOT / "constructs/hyperpod/src/slurm"
NODE_SETUP = ROOT / "apps/hyperpod-platform/lifecycle-scripts/on_create_main.sh"

# A fake AWS CLI for the calls the login-node script makes, with the services' answers (a
# missing parameter is ParameterNotFound); any other call, such as a write to the secret,
# fails the script.
FAKE_AWS = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    state_path = os.environ["FAKE_AWS_STATE"]
    state = json.load(open(state_path))
    args = sys.argv[1:]
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(["aws"] + args) + "\\n")
    def arg(name):
        return args[args.index(name) + 1]
    service, operation = args[0], args[1]
    if service == "secretsmanager" and operation == "get-secret-value":
        print(state["secret"])
    elif service == "ssm" and operation == "get-parameter":
        if "parameter" not in state:
            sys.stderr.write("An error occurred (ParameterNotFound) when calling the GetParameter operation:\\n")
            sys.exit(254)
        print(state["parameter"])
    elif service == "elbv2" and operation == "register-targets":
        state["targets"].append(arg("--targets").split(",")[0].split("=")[1])
    elif service == "elbv2" and operation == "deregister-targets":
        state["targets"].remove(arg("--targets").split(",")[0].split("=")[1])
    elif service == "elbv2" and operation == "describe-target-health":
        print("\\t".join(state["targets"]))
    else:
        sys.stderr.write("unexpected call\\n")
        sys.exit(2)
    json.dump(state, open(state_path, "w"))
""")

FAKE_SYSTEMCTL = textwrap.dedent("""\
    #!{python}
    import json, os, sys
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(["systemctl"] + sys.argv[1:]) + "\\n")
""")

RESOURCE_CONFIG = {
    "InstanceGroups": [
        {"Name": "controller", "Instances": [{"InstanceName": "controller-1", "CustomerIpAddress": "10.1.0.5"}]},
        {"Name": "login", "Instances": [
            {"InstanceName": "login-1", "CustomerIpAddress": "10.1.0.10"},
            {"InstanceName": "login-2", "CustomerIpAddress": "10.1.0.11"},
        ]},
        {"Name": "gpu-workers", "Instances": [{"InstanceName": "gpu-workers-1", "CustomerIpAddress": "10.1.0.20"}]},
    ],
}

SETTINGS = textwrap.dedent("""\
    CLUSTER_NAME=ml-slurm
    AWS_DEFAULT_REGION=us-east-1
    LOGIN_GROUP=login
    HOST_KEYS_SECRET=hyperpod/ml-slurm/login-host-keys
    TARGET_GROUP_PARAMETER=/hyperpod/ml-slurm/login-target-group
""")

KEY_FILES = ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub", "ssh_host_rsa_key", "ssh_host_rsa_key.pub"]
SHARED_KEY = {
    "ssh_host_ed25519_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nshared\n-----END OPENSSH PRIVATE KEY-----\n",
    "ssh_host_ed25519_key.pub": "ssh-ed25519 AAAAshared hyperpod-login\n",
}


def fake_tool(folder, name, template):
    path = folder / name
    path.write_text(template.format(python=sys.executable))
    path.chmod(0o755)


class LoginNodeTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        base = pathlib.Path(self.folder.name)
        self.scripts = base / "scripts"
        self.scripts.mkdir()
        shutil.copy(SLURM / "login_node.sh", self.scripts / "hyperpod_login_node.sh")
        shutil.copy(SLURM / "on_init_complete.sh", self.scripts / "hyperpod_on_init_complete.sh")
        (self.scripts / "hyperpod_cluster.env").write_text(SETTINGS)
        (self.scripts / "on_init_complete.sh").write_text("#!/bin/bash\necho user script ran >> \"$USER_MARK\"\n")
        self.config = base / "resource_config.json"
        self.config.write_text(json.dumps(RESOURCE_CONFIG))
        bin_dir = base / "bin"
        bin_dir.mkdir()
        fake_tool(bin_dir, "aws", FAKE_AWS)
        fake_tool(bin_dir, "systemctl", FAKE_SYSTEMCTL)
        self.state = base / "aws.json"
        self.state.write_text(json.dumps({"targets": ["10.1.0.99"], "parameter": "arn:aws:elasticloadbalancing:us-east-1:111111111111:targetgroup/login/abc", "secret": json.dumps(SHARED_KEY)}))
        self.log = base / "calls.jsonl"
        self.base = base
        self.environment = dict(
            os.environ,
            PATH=f"{bin_dir}:{os.environ['PATH']}",
            FAKE_AWS_STATE=str(self.state),
            FAKE_LOG=str(self.log),
            SAGEMAKER_RESOURCE_CONFIG_PATH=str(self.config),
            CONFIG_RETRY_SECONDS="0",
            FAILURE_DELAY_SECONDS="0",
            PROVISIONING_LOG=str(base / "provisioning.log"),
            USER_MARK=str(base / "user-script-ran"),
        )

    def tearDown(self):
        self.folder.cleanup()

    def node(self, address, keys_seed):
        """A node's SSH folder with host keys of its own."""
        ssh = self.base / f"ssh-{address}"
        ssh.mkdir(exist_ok=True)
        for name in KEY_FILES:
            (ssh / name).write_text(f"{name} of {keys_seed}\n")
        return ssh

    def run_script(self, address, ssh, script="hyperpod_login_node.sh"):
        env = dict(self.environment, NODE_ADDRESS=address, SSH_DIR=str(ssh))
        return subprocess.run(["bash", str(self.scripts / script)], env=env, capture_output=True, text=True)

    def calls(self):
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def state_now(self):
        return json.loads(self.state.read_text())

    def test_a_compute_node_takes_no_part(self):
        ssh = self.node("10.1.0.20", "worker")
        result = self.run_script("10.1.0.20", ssh)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("not the login group", result.stdout)
        self.assertEqual(self.calls(), [])

    def test_a_node_decides_by_its_own_address_not_by_the_groups_every_node_sees(self):
        # The controller's resource_config.json names the login group too.
        ssh = self.node("10.1.0.5", "controller")
        result = self.run_script("10.1.0.5", ssh)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(self.calls(), [])
        self.assertEqual((ssh / "ssh_host_rsa_key").read_text(), "ssh_host_rsa_key of controller\n")

    def test_every_login_node_installs_the_shared_key_offers_it_alone_and_writes_nothing(self):
        first = self.node("10.1.0.10", "first")
        second = self.node("10.1.0.11", "second")
        for address, ssh in (("10.1.0.10", first), ("10.1.0.11", second)):
            result = self.run_script(address, ssh)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            self.assertIn("installed the login nodes' shared host key", result.stdout)
            for name, content in SHARED_KEY.items():
                self.assertEqual((ssh / name).read_text(), content)
            self.assertEqual(oct((ssh / "ssh_host_ed25519_key").stat().st_mode & 0o777), "0o600")
            self.assertEqual(oct((ssh / "ssh_host_ed25519_key.pub").stat().st_mode & 0o777), "0o644")
            self.assertEqual((ssh / "sshd_config.d/10-hyperpod-host-key.conf").read_text(), f"HostKey {ssh}/ssh_host_ed25519_key\n")
        restarts = [call for call in self.calls() if call[0] == "systemctl"]
        self.assertEqual(restarts, [["systemctl", "restart", "sshd"]] * 2)
        secret_calls = [call[2] for call in self.calls() if call[1] == "secretsmanager"]
        self.assertEqual(secret_calls, ["get-secret-value"] * 2, "no node writes the secret")

    def test_only_the_named_key_files_are_taken_from_the_secret(self):
        state = self.state_now()
        state["secret"] = json.dumps(dict(SHARED_KEY, sshd_config="PermitRootLogin yes\n", **{"../../etc/passwd": "x"}))
        self.state.write_text(json.dumps(state))
        ssh = self.node("10.1.0.10", "own")
        result = self.run_script("10.1.0.10", ssh)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("ignoring sshd_config", result.stdout)
        self.assertIn("ignoring ../../etc/passwd", result.stdout)
        self.assertFalse((ssh / "sshd_config").exists())
        self.assertFalse((self.base / "etc").exists())

    def test_a_secret_without_the_key_fails_the_node(self):
        state = self.state_now()
        state["secret"] = json.dumps({"ssh_host_ed25519_key.pub": "ssh-ed25519 AAAA"})
        self.state.write_text(json.dumps(state))
        ssh = self.node("10.1.0.10", "own")
        result = self.run_script("10.1.0.10", ssh)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("the secret holds no ssh_host_ed25519_key", result.stderr)
        self.assertEqual((ssh / "ssh_host_rsa_key").read_text(), "ssh_host_rsa_key of own\n")

    def test_a_login_node_registers_itself_and_removes_the_addresses_of_replaced_nodes(self):
        state = self.state_now()
        state["targets"] = ["10.1.0.99", "10.1.0.11"]
        self.state.write_text(json.dumps(state))
        ssh = self.node("10.1.0.10", "first")
        result = self.run_script("10.1.0.10", ssh)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(sorted(self.state_now()["targets"]), ["10.1.0.10", "10.1.0.11"])
        self.assertIn("deregistered 10.1.0.99", result.stdout)
        register = [call for call in self.calls() if call[1:3] == ["elbv2", "register-targets"]]
        self.assertEqual(register[0][-1], "Id=10.1.0.10,Port=22")

    def test_without_a_load_balancer_the_keys_are_still_shared(self):
        state = self.state_now()
        del state["parameter"]
        self.state.write_text(json.dumps(state))
        ssh = self.node("10.1.0.10", "first")
        result = self.run_script("10.1.0.10", ssh)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("no load balancer serves the login nodes", result.stdout)
        self.assertEqual((ssh / "ssh_host_ed25519_key").read_text(), SHARED_KEY["ssh_host_ed25519_key"])

    def test_a_node_missing_from_the_resource_config_fails(self):
        ssh = self.node("10.1.0.77", "stranger")
        result = self.run_script("10.1.0.77", ssh)
        self.assertEqual(result.returncode, 1)
        self.assertIn("is in no instance group", result.stdout)

    def test_the_entry_script_sets_up_login_nodes_then_runs_the_clusters_own_script(self):
        ssh = self.node("10.1.0.10", "first")
        result = self.run_script("10.1.0.10", ssh, script="hyperpod_on_init_complete.sh")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertTrue((self.base / "user-script-ran").exists())
        log = (self.base / "provisioning.log").read_text()
        self.assertIn("installed the login nodes' shared host key", log)
        self.assertIn("lifecycle: finished", log)

    def test_the_entry_script_fails_the_node_when_the_login_set_up_fails(self):
        ssh = self.node("10.1.0.77", "stranger")
        result = self.run_script("10.1.0.77", ssh, script="hyperpod_on_init_complete.sh")
        self.assertEqual(result.returncode, 1)
        self.assertFalse((self.base / "user-script-ran").exists())
        self.assertIn("hyperpod_login_node.sh failed", (self.base / "provisioning.log").read_text())


class NodeSetupTest(unittest.TestCase):
    def setUp(self):
        self.folder = tempfile.TemporaryDirectory()
        self.root = pathlib.Path(self.folder.name) / "root"
        (self.root / "etc").mkdir(parents=True)
        (self.root / "var/lib/containerd/io.containerd.content.v1.content").mkdir(parents=True)
        (self.root / "var/lib/containerd/io.containerd.content.v1.content/blob").write_text("layer")
        (self.root / "var/lib/kubelet/pki").mkdir(parents=True)
        (self.root / "var/lib/kubelet/pki/kubelet.crt").write_text("certificate")
        bin_dir = pathlib.Path(self.folder.name) / "bin"
        bin_dir.mkdir()
        fake_tool(bin_dir, "systemctl", FAKE_SYSTEMCTL)
        self.log = pathlib.Path(self.folder.name) / "calls.jsonl"
        self.environment = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_LOG=str(self.log), ROOT=str(self.root), VOLUME_MOUNTED="yes")

    def tearDown(self):
        self.folder.cleanup()

    def run_setup(self, **extra):
        env = dict(self.environment, **extra)
        return subprocess.run(["bash", str(NODE_SETUP)], env=env, capture_output=True, text=True)

    def test_on_amazon_linux_2023_containerd_and_kubelet_move_to_the_data_volume(self):
        (self.root / "etc/os-release").write_text('NAME="Amazon Linux"\nVERSION_ID="2023"\n')
        result = self.run_setup()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        config = (self.root / "opt/sagemaker/containerd/config.toml").read_text()
        self.assertIn('root = "/opt/sagemaker/containerd/data-root"', config)
        unit = (self.root / "etc/systemd/system/containerd.service.d/20-data-volume.conf").read_text()
        self.assertIn("ExecStart=/usr/bin/containerd --config /opt/sagemaker/containerd/config.toml", unit)
        self.assertEqual((self.root / "opt/sagemaker/containerd/data-root/io.containerd.content.v1.content/blob").read_text(), "layer")
        kubelet = self.root / "var/lib/kubelet"
        self.assertTrue(kubelet.is_symlink())
        self.assertEqual(os.readlink(kubelet), "/opt/sagemaker/kubelet")
        self.assertEqual((self.root / "opt/sagemaker/kubelet/pki/kubelet.crt").read_text(), "certificate")
        self.assertIn(["systemctl", "daemon-reload"], [json.loads(line) for line in self.log.read_text().splitlines()])
        self.assertIn("nofile 1048576", (self.root / "etc/security/limits.d/90-training.conf").read_text())
        # A replaced node runs it again: nothing breaks.
        again = self.run_setup()
        self.assertEqual(again.returncode, 0, again.stdout + again.stderr)
        self.assertEqual(os.readlink(kubelet), "/opt/sagemaker/kubelet")

    def test_on_amazon_linux_2_the_bootstrap_template_gets_the_data_root(self):
        (self.root / "etc/os-release").write_text('NAME="Amazon Linux"\nVERSION_ID="2"\n')
        template = self.root / "etc/eks/containerd/containerd-config.toml"
        template.parent.mkdir(parents=True)
        template.write_text('version = 2\n# root = "/var/lib/containerd"\nstate = "/run/containerd"\n')
        result = self.run_setup()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(template.read_text(), 'version = 2\nroot = "/opt/sagemaker/containerd/data-root"\nstate = "/run/containerd"\n')
        self.assertTrue((self.root / "var/lib/kubelet").is_symlink())

    def test_without_the_data_volume_nothing_moves(self):
        (self.root / "etc/os-release").write_text('VERSION_ID="2023"\n')
        result = self.run_setup(VOLUME_MOUNTED="no", MOUNT_WAIT_SECONDS="0")
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("is not mounted", result.stdout)
        self.assertFalse((self.root / "var/lib/kubelet").is_symlink())
        self.assertFalse((self.root / "opt").exists())


if __name__ == "__main__":
    unittest.main()
