"""Tests of the generator of the Slurm login nodes' shared SSH host key
(constructs/hyperpod/src/slurm/host_keys.py): its Ed25519 keys against an independent
implementation and OpenSSH's own reader, and its custom-resource requests against an
in-process Secrets Manager (moto) with a local response URL.
"""

import http.server
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "constructs/hyperpod/src/slurm"))
import host_keys  # noqa: E402


class Recorder(http.server.BaseHTTPRequestHandler):
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


class KeyTest(unittest.TestCase):
    def test_public_keys_match_an_independent_ed25519(self):
        for _ in range(8):
            seed = os.urandom(32)
            expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.assertEqual(host_keys.public_key(seed), expected)

    def test_the_private_key_file_is_read_back_by_cryptography_and_ssh_keygen(self):
        seed = os.urandom(32)
        private, public = host_keys.openssh_key(seed, "ml-slurm-login")
        loaded = serialization.load_ssh_private_key(private.encode(), password=None)
        self.assertEqual(loaded.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()), seed)
        self.assertTrue(public.startswith("ssh-ed25519 ") and public.endswith(" ml-slurm-login\n"))
        keygen = shutil.which("ssh-keygen")
        if keygen is None:
            self.assertIsNone(os.environ.get("CI"), "ssh-keygen is missing and CI must not skip")
            print("SKIPPED: ssh-keygen is not installed; cryptography read the key")
            return
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "key"
            path.write_text(private)
            path.chmod(0o600)
            derived = subprocess.run([keygen, "-y", "-f", str(path)], capture_output=True, text=True, check=True)
        self.assertEqual(derived.stdout.split()[:2], public.split()[:2])


class HandlerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def setUp(self):
        from moto import mock_aws

        self.saved = dict(os.environ)
        os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test")
        self.mock = mock_aws()
        self.mock.start()
        import boto3

        self.secrets = boto3.client("secretsmanager")
        self.secrets.create_secret(Name="hyperpod/ml-slurm/login-host-keys")
        Recorder.answers.clear()

    def tearDown(self):
        self.mock.stop()
        os.environ.clear()
        os.environ.update(self.saved)

    def event(self, request, physical=None, secret="hyperpod/ml-slurm/login-host-keys"):
        event = {
            "RequestType": request,
            "ResourceType": "Custom::SshHostKey",
            "ResponseURL": f"http://127.0.0.1:{self.server.server_port}/response",
            "StackId": "arn:aws:cloudformation:us-east-1:111111111111:stack/SlurmCluster/1",
            "RequestId": "request-1",
            "LogicalResourceId": "SlurmLoginHostKeyRun",
            "ResourceProperties": {"ServiceToken": "arn", "SecretId": secret, "Comment": "ml-slurm-login@us-east-1"},
        }
        if physical:
            event["PhysicalResourceId"] = physical
        return event

    def stored(self):
        return json.loads(self.secrets.get_secret_value(SecretId="hyperpod/ml-slurm/login-host-keys")["SecretString"])

    def versions(self):
        return len(self.secrets.list_secret_version_ids(SecretId="hyperpod/ml-slurm/login-host-keys")["Versions"])

    def test_create_stores_one_key_pair(self):
        host_keys.handler(self.event("Create"), Context())
        self.assertEqual(Recorder.answers[-1]["Status"], "SUCCESS", Recorder.answers[-1]["Reason"])
        self.assertEqual(Recorder.answers[-1]["PhysicalResourceId"], "hyperpod/ml-slurm/login-host-keys/ssh-host-key")
        stored = self.stored()
        self.assertEqual(sorted(stored), ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"])
        loaded = serialization.load_ssh_private_key(stored["ssh_host_ed25519_key"].encode(), password=None)
        public = loaded.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        self.assertEqual(stored["ssh_host_ed25519_key.pub"].split()[:2], public.split()[:2])

    def test_an_update_keeps_the_key_and_a_delete_leaves_it(self):
        host_keys.handler(self.event("Create"), Context())
        before = self.stored()
        physical = Recorder.answers[-1]["PhysicalResourceId"]
        host_keys.handler(self.event("Update", physical), Context())
        host_keys.handler(self.event("Delete", physical), Context())
        self.assertEqual([answer["Status"] for answer in Recorder.answers], ["SUCCESS"] * 3)
        self.assertEqual(self.stored(), before)
        self.assertEqual(self.versions(), 1)

    def test_a_failure_reaches_cloudformation(self):
        host_keys.handler(self.event("Create", secret="hyperpod/missing"), Context())
        answer = Recorder.answers[-1]
        self.assertEqual(answer["Status"], "FAILED")
        self.assertIn("ResourceNotFoundException", answer["Reason"])


if __name__ == "__main__":
    unittest.main()
