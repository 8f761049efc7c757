#!/bin/bash
# Written by the hyperpod constructs into the lifecycle scripts of a Slurm cluster: the
# entry point HyperPod runs on every node once its AMI-based Slurm set-up is complete
# (LifeCycleConfig.OnInitComplete). It sets up login nodes (shared SSH host keys and
# registration with the login-node load balancer), then runs the cluster's own
# on_init_complete.sh. A failure waits a minute, so that the log reaches CloudWatch, then
# fails the node.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
LOG="${PROVISIONING_LOG:-/var/log/provision/provisioning.log}"
mkdir -p "$(dirname "$LOG")"
exec > >(tee -a "$LOG") 2>&1

fail() {
    echo "lifecycle: $1 failed"
    sleep "${FAILURE_DELAY_SECONDS:-60}"
    exit 1
}

echo "lifecycle: started at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
bash "$here/hyperpod_login_node.sh" || fail hyperpod_login_node.sh
bash "$here/on_init_complete.sh" || fail on_init_complete.sh
echo "lifecycle: finished"
