"""Creates the SSH host key the login nodes of a Slurm cluster share, once, outside the
nodes: a CloudFormation custom resource (Custom::SshHostKey) run as a Lambda function with
the standard library and boto3 only.

Create makes an Ed25519 key from 32 random bytes and stores its OpenSSH private key and
public key in the secret the request names; Update keeps the key (it changes only if the
secret does); Delete leaves the secret, which CloudFormation retains. No node writes the
secret: login nodes only read it.

The Ed25519 public key is the base point multiplied by the clamped scalar of the seed's
SHA-512 (RFC 8032, section 5.1.5); the file format is OpenSSH's "openssh-key-v1"
(PROTOCOL.key in the OpenSSH sources), unencrypted, as `ssh-keygen -N ''` writes it.
"""

import base64
import hashlib
import json
import os
import struct
import time
import urllib.error
import urllib.request

REASON_LIMIT = 1500

# The curve -x^2 + y^2 = 1 + d x^2 y^2 over the field of 2^255 - 19.
FIELD = 2**255 - 19
CURVE_D = -121665 * pow(121666, FIELD - 2, FIELD) % FIELD


def inverse(value):
    return pow(value, FIELD - 2, FIELD)


def x_from_y(y, odd):
    """The x of the curve point with this y, of the parity asked for."""
    xx = (y * y - 1) * inverse(CURVE_D * y * y + 1) % FIELD
    x = pow(xx, (FIELD + 3) // 8, FIELD)
    if (x * x - xx) % FIELD:
        x = x * pow(2, (FIELD - 1) // 4, FIELD) % FIELD
    if x % 2 != odd:
        x = FIELD - x
    return x


BASE_Y = 4 * inverse(5) % FIELD
# The base point in extended coordinates (X, Y, Z, T) with x = X/Z, y = Y/Z, x*y = T/Z.
BASE = (x_from_y(BASE_Y, 0), BASE_Y, 1, x_from_y(BASE_Y, 0) * BASE_Y % FIELD)
IDENTITY = (0, 1, 1, 0)


def add(p, q):
    """Point addition in extended coordinates (the unified formula for a = -1)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = (y1 - x1) * (y2 - x2) % FIELD
    b = (y1 + x1) * (y2 + x2) % FIELD
    c = 2 * CURVE_D * t1 * t2 % FIELD
    d = 2 * z1 * z2 % FIELD
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % FIELD, g * h % FIELD, f * g % FIELD, e * h % FIELD)


def multiply(scalar, point):
    result = IDENTITY
    while scalar:
        if scalar & 1:
            result = add(result, point)
        point = add(point, point)
        scalar >>= 1
    return result


def encode(point):
    x, y, z, _ = point
    z_inverse = inverse(z)
    x, y = x * z_inverse % FIELD, y * z_inverse % FIELD
    return (y | (x & 1) << 255).to_bytes(32, "little")


def public_key(seed):
    """The 32-byte Ed25519 public key of a 32-byte seed."""
    digest = bytearray(hashlib.sha512(seed).digest()[:32])
    digest[0] &= 248
    digest[31] &= 127
    digest[31] |= 64
    return encode(multiply(int.from_bytes(digest, "little"), BASE))


def ssh_string(data):
    if isinstance(data, str):
        data = data.encode()
    return struct.pack(">I", len(data)) + data


def openssh_key(seed, comment):
    """The OpenSSH private key file and the public key line of an Ed25519 seed."""
    public = public_key(seed)
    public_blob = ssh_string("ssh-ed25519") + ssh_string(public)
    check = os.urandom(4)
    private = check + check + ssh_string("ssh-ed25519") + ssh_string(public) + ssh_string(seed + public) + ssh_string(comment)
    padding = bytes(range(1, 1 + (-len(private)) % 8))
    body = b"openssh-key-v1\0" + ssh_string("none") + ssh_string("none") + ssh_string(b"") + struct.pack(">I", 1) + ssh_string(public_blob) + ssh_string(private + padding)
    text = base64.b64encode(body).decode()
    lines = [text[i:i + 70] for i in range(0, len(text), 70)]
    private_file = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END OPENSSH PRIVATE KEY-----\n"
    return private_file, f"ssh-ed25519 {base64.b64encode(public_blob).decode()} {comment}\n"


def store(secret_id, comment):
    import boto3  # in the Lambda runtime; imported here so the key code needs none

    private, public = openssh_key(os.urandom(32), comment)
    value = json.dumps({"ssh_host_ed25519_key": private, "ssh_host_ed25519_key.pub": public})
    boto3.client("secretsmanager").put_secret_value(SecretId=secret_id, SecretString=value)


def respond(event, status, physical, reason=""):
    body = json.dumps({
        "Status": status,
        "Reason": reason[:REASON_LIMIT],
        "PhysicalResourceId": physical,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {},
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
    props = event["ResourceProperties"]
    secret = props["SecretId"]
    physical = f"{secret}/ssh-host-key"
    print(json.dumps({key: event.get(key) for key in ("RequestType", "LogicalResourceId", "PhysicalResourceId")}), flush=True)
    try:
        request = event["RequestType"]
        if request == "Create" or (request == "Update" and event.get("PhysicalResourceId") != physical):
            store(secret, props.get("Comment", "hyperpod-login"))
            print(f"stored a new host key in {secret}", flush=True)
        respond(event, "SUCCESS", physical)
    except Exception as error:  # CloudFormation must hear back, whatever failed.
        print("FAILED:", error, flush=True)
        respond(event, "FAILED", physical, f"{type(error).__name__}: {error} (log stream {context.log_stream_name})")
