#!/bin/bash
# Node set-up for an EKS-orchestrated HyperPod cluster. Keep it idempotent: a replaced
# node runs it again.
set -euo pipefail

# Larger limits for data loaders with many open files.
cat > /etc/security/limits.d/90-training.conf <<'LIMITS'
* soft nofile 1048576
* hard nofile 1048576
LIMITS

echo "node set-up done"
