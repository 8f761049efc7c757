#!/bin/bash
# Written by the hyperpod constructs into the lifecycle scripts of a Slurm cluster. On a
# login node (found by the node's own address in HyperPod's resource_config.json, never by
# a file every node has) it:
#
# 1. gives the node the login nodes' shared SSH host keys: the first login node stores its
#    keys as one fixed version of the secret (PutSecretValue with a fixed client request
#    token is create-once: a second node's different keys are refused), and every login
#    node installs that version, taking only the named key files from it;
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
KEY_FILES="ssh_host_ecdsa_key ssh_host_ecdsa_key.pub ssh_host_ed25519_key ssh_host_ed25519_key.pub ssh_host_rsa_key ssh_host_rsa_key.pub"

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

# 1. Shared host keys.
present=""
for file in $KEY_FILES; do
    [ -f "$SSH_DIR/$file" ] && present="$present $file"
done
bundle="$(cd "$SSH_DIR" && tar -czf - $present | base64 -w0)"
if aws secretsmanager put-secret-value --secret-id "$HOST_KEYS_SECRET" \
    --client-request-token "$HOST_KEYS_VERSION" --secret-string "$bundle" >/dev/null 2>"$here/.put-error"; then
    echo "login_node: this node's host keys are the login nodes' keys now"
elif grep -q ResourceExistsException "$here/.put-error"; then
    echo "login_node: another login node stored the keys first; installing them"
else
    cat "$here/.put-error"
    echo "login_node: storing the host keys in $HOST_KEYS_SECRET failed"
    exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work" "$here/.put-error"' EXIT
aws secretsmanager get-secret-value --secret-id "$HOST_KEYS_SECRET" --version-id "$HOST_KEYS_VERSION" \
    --query SecretString --output text | base64 -d > "$work/keys.tar.gz"
installed=0
for member in $(tar -tzf "$work/keys.tar.gz"); do
    case " $KEY_FILES " in
        *" $member "*) ;;
        *) echo "login_node: ignoring $member, which is not a host key file"; continue ;;
    esac
    tar -xzf "$work/keys.tar.gz" -C "$work" "$member"
    case "$member" in
        *.pub) mode=644 ;;
        *) mode=600 ;;
    esac
    install -m "$mode" "$work/$member" "$SSH_DIR/$member"
    installed=$((installed + 1))
done
if [ "$installed" -eq 0 ]; then
    echo "login_node: the stored version holds no host key file"
    exit 1
fi
systemctl restart sshd 2>/dev/null || systemctl restart ssh
echo "login_node: installed $installed shared host key files"

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
