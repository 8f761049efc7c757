#!/bin/bash
# Runs once on every HyperPod node when it is created. Logs go to the provisioning log;
# a failure waits a minute, so the log reaches CloudWatch, then fails the node.
set -euo pipefail

LOG=/var/log/provision/provisioning.log
mkdir -p "$(dirname "$LOG")"
exec > >(tee -a "$LOG") 2>&1

echo "lifecycle: on_create started at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
if ! bash "$(dirname "$0")/on_create_main.sh"; then
    echo "lifecycle: on_create_main.sh failed"
    sleep 60
    exit 1
fi
echo "lifecycle: on_create finished"
