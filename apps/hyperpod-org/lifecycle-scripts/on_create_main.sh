#!/bin/bash
# Node set-up for an EKS-orchestrated HyperPod cluster. Keep it idempotent: a replaced
# node runs it again.
#
# Container images and kubelet data go to the instance group's extra EBS volume, mounted at
# /opt/sagemaker, instead of the small root volume that large training images fill (AWS's
# base lifecycle configuration does the same). The script runs before containerd and
# kubelet start, so their configuration is written, not restarted.
set -euo pipefail

# Every path below ROOT, so that the tests can run the script in a folder of their own.
ROOT="${ROOT:-}"
DATA="${DATA_VOLUME:-/opt/sagemaker}"

# Larger limits for data loaders with many open files.
mkdir -p "$ROOT/etc/security/limits.d"
cat > "$ROOT/etc/security/limits.d/90-training.conf" <<'LIMITS'
* soft nofile 1048576
* hard nofile 1048576
LIMITS

volume_mounted() {
    if [ -n "${VOLUME_MOUNTED:-}" ]; then
        [ "$VOLUME_MOUNTED" = yes ]
        return
    fi
    mountpoint -q "$DATA"
}

waited=0
until volume_mounted; do
    if [ "$waited" -ge "${MOUNT_WAIT_SECONDS:-60}" ]; then
        echo "node set-up: $DATA is not mounted; containerd and kubelet keep the root volume"
        exit 0
    fi
    sleep 5
    waited=$((waited + 5))
done

os_version="$(. "$ROOT/etc/os-release" && echo "$VERSION_ID")"
case "$os_version" in
    2)
        # Amazon Linux 2: the EKS bootstrap renders containerd's configuration from this
        # template.
        template="$ROOT/etc/eks/containerd/containerd-config.toml"
        if [ -f "$template" ]; then
            sed -i -e "s|^[# ]*root[[:space:]]*=.*|root = \"$DATA/containerd/data-root\"|" "$template"
            echo "node set-up: containerd's data root is $DATA/containerd/data-root"
        fi
        ;;
    2023)
        # Amazon Linux 2023: nodeadm rewrites /etc/containerd/config.toml, so containerd is
        # pointed at a configuration of its own on the data volume.
        mkdir -p "$ROOT$DATA/containerd/data-root"
        cat > "$ROOT$DATA/containerd/config.toml" <<CONFIG
version = 2
root = "$DATA/containerd/data-root"
state = "/run/containerd"

[grpc]
address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
sandbox_image = "localhost/kubernetes/pause"
enable_cdi = true

[plugins."io.containerd.grpc.v1.cri".containerd]
default_runtime_name = "nvidia"
discard_unpacked_layers = true

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
runtime_type = "io.containerd.runc.v2"
base_runtime_spec = "/etc/containerd/base-runtime-spec.json"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
BinaryName = "/usr/bin/nvidia-container-runtime"
SystemdCgroup = true

[plugins."io.containerd.grpc.v1.cri".registry]
config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"

[plugins."io.containerd.grpc.v1.cri".cni]
bin_dir = "/opt/cni/bin"
conf_dir = "/etc/cni/net.d"
CONFIG
        mkdir -p "$ROOT/etc/systemd/system/containerd.service.d"
        cat > "$ROOT/etc/systemd/system/containerd.service.d/20-data-volume.conf" <<UNIT
[Service]
ExecStart=
ExecStart=/usr/bin/containerd --config $DATA/containerd/config.toml
UNIT
        if [ -d "$ROOT/var/lib/containerd" ]; then
            cp -a "$ROOT/var/lib/containerd/." "$ROOT$DATA/containerd/data-root/"
        fi
        systemctl daemon-reload
        echo "node set-up: containerd's data root is $DATA/containerd/data-root"
        ;;
    *)
        echo "node set-up: unknown Amazon Linux $os_version; containerd keeps the root volume"
        ;;
esac

# kubelet: its folder becomes a link to the data volume (kept if it already is one).
if [ ! -L "$ROOT/var/lib/kubelet" ]; then
    mkdir -p "$ROOT$DATA/kubelet" "$ROOT/var/lib/kubelet"
    if [ -n "$(ls -A "$ROOT/var/lib/kubelet")" ]; then
        cp -a "$ROOT/var/lib/kubelet/." "$ROOT$DATA/kubelet/"
    fi
    rm -rf "$ROOT/var/lib/kubelet"
    ln -s "$DATA/kubelet" "$ROOT/var/lib/kubelet"
    echo "node set-up: kubelet's data is in $DATA/kubelet"
fi

echo "node set-up done"
