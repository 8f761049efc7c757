#!/bin/bash
# Written by the hyperpod constructs into the lifecycle scripts of a Slurm cluster. On a
# login node (found by the node's own address in HyperPod's resource_config.json, never by
# a file every node has) it:
#
# 1. gives the node the login nodes' shared SSH host key, made once outside the nodes and
#    kept in a secret that only login nodes may read (no node may write it): it installs
#    only the named key files and has sshd offer that key alone;
# 2. registers the node's address with the login-node load balancer's target group, whose
#    ARN a parameter holds, and deregisters the addresses of login nodes that no longer
#    exist, so that the targets follow node replacement.
#
# Other nodes do nothing. The names come from hyperpod_cluster.env beside this script.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=/dev/null
source "$here/hyperpod_cluster.env"
RESOURCE_CONFIG="${SAGEMAKER_RESOURCE_CONFIG_PATH:-/opt/ml/config/resource_config.json}"
SSH_DIR="${SSH_DIR:-/etc/ssh}"

if [ -z "${LOGIN_GROUP:-}" ]; then
    echo "login_node: the cluster has no login group"
    exit 0
fi

# The node's address in the customer VPC: the source address of a route out (nothing is
# sent), as AWS's lifecycle scripts find it.
own_address() {
    if [ -n "${NODE_ADDRESS:-}" ]; then
        echo "$NODE_ADDRESS"
        return
    fi
    python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.connect(("10.254.254.254", 1)); print(s.getsockname()[0])'
}

# Prints the group whose instances include address $1, or the addresses of group $1.
resource_config() {
    python3 - "$RESOURCE_CONFIG" "$1" "$2" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
what, value = sys.argv[2], sys.argv[3]
for group in config.get("InstanceGroups", []):
    addresses = [i.get("CustomerIpAddress") for i in group.get("Instances") or []]
    if what == "group-of" and value in addresses:
        print(group.get("Name"))
    if what == "addresses-of" and group.get("Name") == value:
        print("\n".join(a for a in addresses if a))
PY
}

address="$(own_address)"
group=""
for attempt in 1 2 3 4 5 6; do
    group="$(resource_config group-of "$address")"
    [ -n "$group" ] && break
    echo "login_node: $address is not in $RESOURCE_CONFIG yet (attempt $attempt)"
    sleep "${CONFIG_RETRY_SECONDS:-10}"
done
if [ -z "$group" ]; then
    echo "login_node: this node ($address) is in no instance group of $RESOURCE_CONFIG"
    exit 1
fi
if [ "$group" != "$LOGIN_GROUP" ]; then
    echo "login_node: $address is in group $group, not the login group $LOGIN_GROUP; nothing to do"
    exit 0
fi

# 1. The shared host key.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
aws secretsmanager get-secret-value --secret-id "$HOST_KEYS_SECRET" \
    --query SecretString --output text > "$work/secret.json"
python3 - "$work/secret.json" "$SSH_DIR" <<'PY'
import json, os, sys
stored = json.load(open(sys.argv[1]))
for name, mode in (("ssh_host_ed25519_key", 0o600), ("ssh_host_ed25519_key.pub", 0o644)):
    if not isinstance(stored.get(name), str) or not stored[name].strip():
        sys.exit(f"login_node: the secret holds no {name}")
    path = os.path.join(sys.argv[2], name)
    descriptor = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "w") as file:
        file.write(stored[name])
    os.chmod(path + ".new", mode)
    os.replace(path + ".new", path)
for name in sorted(set(stored) - {"ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"}):
    print(f"login_node: ignoring {name}, which is not the host key")
PY
# Every login node offers this key and no other, so clients see one key whichever node
# the load balancer picks.
mkdir -p "$SSH_DIR/sshd_config.d"
echo "HostKey $SSH_DIR/ssh_host_ed25519_key" > "$SSH_DIR/sshd_config.d/10-hyperpod-host-key.conf"
systemctl restart sshd 2>/dev/null || systemctl restart ssh
echo "login_node: installed the login nodes' shared host key"

# 2. The load balancer's targets.
if ! target_group="$(aws ssm get-parameter --name "$TARGET_GROUP_PARAMETER" \
    --query Parameter.Value --output text 2>"$work/ssm-error")"; then
    if grep -q ParameterNotFound "$work/ssm-error"; then
        echo "login_node: no load balancer serves the login nodes"
        exit 0
    fi
    cat "$work/ssm-error"
    exit 1
fi
aws elbv2 register-targets --target-group-arn "$target_group" --targets "Id=$address,Port=22"
echo "login_node: registered $address with the login nodes' load balancer"
current="$(resource_config addresses-of "$LOGIN_GROUP")"
for target in $(aws elbv2 describe-target-health --target-group-arn "$target_group" \
    --query 'TargetHealthDescriptions[].Target.Id' --output text); do
    if [ "$target" != "$address" ] && ! grep -qx "$target" <<< "$current"; then
        aws elbv2 deregister-targets --target-group-arn "$target_group" --targets "Id=$target,Port=22"
        echo "login_node: deregistered $target, which is no login node any more"
    fi
done
