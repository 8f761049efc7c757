#!/bin/bash
# Gives every login node the same SSH host keys, so that users behind the login-node load
# balancer do not see "REMOTE HOST IDENTIFICATION HAS CHANGED" when it picks another node.
# The keys live in the Secrets Manager secret named by HOST_KEYS_SECRET (the stack output
# HostKeysSecret); the first login node stores its own keys there, the others install them.
set -euo pipefail

# Only login nodes take part; HyperPod tells a node its group in resource_config.json.
config=/opt/ml/config/resource_config.json
if [ -f "$config" ] && ! grep -q '"login"' "$config"; then
    exit 0
fi
secret="${HOST_KEYS_SECRET:-}"
if [ -z "$secret" ]; then
    echo "login_host_keys: HOST_KEYS_SECRET is not set; keeping this node's own keys"
    exit 0
fi

stored="$(aws secretsmanager get-secret-value --secret-id "$secret" --query SecretString --output text 2>/dev/null || true)"
if [ -z "$stored" ] || [ "$stored" = "None" ]; then
    bundle="$(tar -C /etc/ssh -czf - ssh_host_*_key ssh_host_*_key.pub | base64 -w0)"
    aws secretsmanager put-secret-value --secret-id "$secret" --secret-string "$bundle"
    echo "login_host_keys: stored this node's host keys"
else
    echo "$stored" | base64 -d | tar -C /etc/ssh -xzf -
    chmod 600 /etc/ssh/ssh_host_*_key
    systemctl restart sshd || systemctl restart ssh
    echo "login_host_keys: installed the shared host keys"
fi
