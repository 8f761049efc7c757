#!/bin/bash
# Runs on every node of the Slurm cluster once HyperPod has set Slurm up (through the
# constructs' hyperpod_on_init_complete.sh, which first sets up login nodes). Put the
# cluster's own set-up here; keep it idempotent, since a replaced node runs it again.
set -euo pipefail

# Larger limits for data loaders with many open files.
cat > /etc/security/limits.d/90-training.conf <<'LIMITS'
* soft nofile 1048576
* hard nofile 1048576
LIMITS

echo "node set-up done"
