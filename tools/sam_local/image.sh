#!/usr/bin/env bash
# The stand-in for AWS's Lambda base image public.ecr.aws/lambda/python:3.13-x86_64, built here
# because no image registry is reachable: a Debian trixie minbase root file system (its python3.13),
# awslambdaric and boto3 in /var/runtime, and a bootstrap that runs `python3.13 -m awslambdaric
# HANDLER`. `sam local invoke --skip-pull-image` builds FROM it, adding its own aws-lambda-rie and the
# layer at /opt. It checks SAM's wiring (environment, layer, event shapes, handlers), not AWS's exact
# runtime (Amazon Linux, its python build, its boto3).
#
# Usage: tools/sam_local/image.sh [PYTHON]   (PYTHON: a python3.13 with pip, for the wheels)
# Built once: the image carries a hash of its recipe (this folder), and a later run with the same
# recipe does nothing. The root file system is kept in .aws-sam/sam-local/rootfs.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tools/sam_local
IMAGE=public.ecr.aws/lambda/python:3.13-x86_64
PYTHON=${1:-.venv/bin/python}
ROOTFS=.aws-sam/sam-local/rootfs
RECIPE=$(cat "$HERE/image.sh" "$HERE/runtime-requirements.txt" "$HERE/bootstrap" "$HERE/lambda-entrypoint.sh" | sha256sum | cut -c1-16)
start=$SECONDS

recipe_of_image() {
  docker image inspect "$IMAGE" --format '{{range .Config.Env}}{{println .}}{{end}}' 2>/dev/null \
    | sed -n 's/^WARMLINE_IMAGE_RECIPE=//p'
}

if [ "$(recipe_of_image)" = "$RECIPE" ]; then
  echo "==> $IMAGE: built already (recipe $RECIPE)"
  exit 0
fi

# The Debian mirror apt uses on this machine (DEBIAN_MIRROR overrides it).
mirror=${DEBIAN_MIRROR:-$(apt-cache policy 2>/dev/null | awk '$3 ~ /^[a-z]+\/main$/ && $2 ~ /\/debian$/ {print $2; exit}')}
if [ ! -e "$ROOTFS/.debootstrap-done" ]; then
  echo "==> debootstrap: a Debian trixie minbase with python3.13 into $ROOTFS, from $mirror (about 1-2 minutes)"
  rm -rf "$ROOTFS"
  mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase --include=python3.13,ca-certificates trixie "$ROOTFS" "$mirror" \
    > .aws-sam/sam-local/debootstrap.log 2>&1 \
    || { echo "error: debootstrap failed; see .aws-sam/sam-local/debootstrap.log" >&2; exit 1; }
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
  touch "$ROOTFS/.debootstrap-done"
  echo "    done in $((SECONDS - start)) s"
fi

echo "==> the runtime: $HERE/runtime-requirements.txt into /var/runtime (manylinux x86_64 wheels)"
rm -rf "$ROOTFS/var/runtime"
mkdir -p "$ROOTFS/var/runtime" "$ROOTFS/var/task" "$ROOTFS/opt"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$ROOTFS/var/runtime" \
  --platform manylinux2014_x86_64 --implementation cp --python-version 3.13 --only-binary=:all: \
  -r "$HERE/runtime-requirements.txt"
install -m 0755 "$HERE/bootstrap" "$ROOTFS/var/runtime/bootstrap"
install -m 0755 "$HERE/lambda-entrypoint.sh" "$ROOTFS/lambda-entrypoint.sh"

echo "==> docker import as $IMAGE"
tar -C "$ROOTFS" --exclude=./.debootstrap-done -c . | docker import \
  --change "ENV LANG=C.UTF-8" \
  --change "ENV TZ=:/etc/localtime" \
  --change "ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin" \
  --change "ENV LAMBDA_TASK_ROOT=/var/task" \
  --change "ENV LAMBDA_RUNTIME_DIR=/var/runtime" \
  --change "ENV WARMLINE_IMAGE_RECIPE=$RECIPE" \
  --change "WORKDIR /var/task" \
  --change 'ENTRYPOINT ["/lambda-entrypoint.sh"]' \
  - "$IMAGE" > /dev/null
echo "==> $IMAGE built in $((SECONDS - start)) s (recipe $RECIPE)"
