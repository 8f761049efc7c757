#!/bin/bash
# Runs once on every HyperPod node when it is created. A failure waits a minute, so the
# log reaches CloudWatch, then fails the node.
set -euo pipefail

LOG=/var/log/provision/provisioning.log
mkdir -p "$(dirname "$LOG")"
exec > >(tee -a "$LOG") 2>&1

here="$(cd "$(dirname "$0")" && pwd)"
echo "lifecycle: on_create started at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if ! bash "$here/login_host_keys.sh"; then
    echo "lifecycle: login_host_keys.sh failed"
    sleep 60
    exit 1
fi
echo "lifecycle: on_create finished"
