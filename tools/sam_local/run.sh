#!/usr/bin/env bash
# `make sam-local`: the real `sam local invoke` and `sam local start-api` on this machine
# (docs/local-stack.md, "Testing a function with `sam local invoke`"). In order:
#   1. Debian's docker.io and debootstrap, if missing (apt-get);
#   2. a dockerd, if none answers: started here, off the host's firewall, and stopped at the end;
#   3. the stand-in Lambda base image (tools/sam_local/image.sh; built once);
#   4. `sam build`, then an x86_64 copy of the built template with the layer built for this machine
#      (the template says arm64: under qemu it runs about 50 times slower);
#   5. tests/integration/test_sam_local_docker.py: every event through `sam local invoke`, one
#      request per route through `sam local start-api`, against moto and the ElevenLabs emulator.
# Usage: tools/sam_local/run.sh  (from the Makefile, after `make setup` and the SAM CLI)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=.aws-sam/sam-local
SAM=.tools/sam/bin/sam
PY=.venv/bin/python
export PATH="$PWD/.venv/bin:$PATH" AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0
mkdir -p "$OUT" .warmline/logs
start=$SECONDS
step() { echo "==> [$((SECONDS - start)) s] $*"; }

packages=()
command -v dockerd > /dev/null || packages+=(docker.io)
command -v debootstrap > /dev/null || packages+=(debootstrap)
if ((${#packages[@]})); then
  step "apt-get install ${packages[*]} (about a minute)"
  apt-get update -qq > /dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" > "$OUT/apt-get.log" 2>&1 \
    || { echo "error: apt-get install ${packages[*]} failed; see $OUT/apt-get.log" >&2; exit 1; }
fi

dockerd_pid=""
stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  step "stopping the dockerd started here (pid $dockerd_pid)"
  kill -TERM "$dockerd_pid" 2> /dev/null || true
  for _ in $(seq 60); do kill -0 "$dockerd_pid" 2> /dev/null || return 0; sleep 0.5; done
  kill -KILL "$dockerd_pid" 2> /dev/null || true
}

# --iptables=false --ip-masq=false keep dockerd off the host's firewall: the containers reach this
# machine on the docker bridge, and nothing beyond it.
start_dockerd() {
  dockerd --storage-driver="$1" --iptables=false --ip-masq=false >> .warmline/logs/dockerd.log 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 60); do
    docker info > /dev/null 2>&1 && return 0
    kill -0 "$dockerd_pid" 2> /dev/null || break
    sleep 0.5
  done
  stop_dockerd
  dockerd_pid=""
  return 1
}

if ! docker info > /dev/null 2>&1; then
  step "starting dockerd (log: .warmline/logs/dockerd.log)"
  trap stop_dockerd EXIT
  start_dockerd overlay2 || { step "overlay2 refused here: dockerd with vfs"; start_dockerd vfs; } \
    || { echo "error: dockerd did not start; see .warmline/logs/dockerd.log" >&2; exit 1; }
fi

tools/sam_local/image.sh "$PY"

step "sam build (into $OUT/build)"
"$SAM" build --build-dir "$OUT/build" --cache-dir "$OUT/cache" > "$OUT/sam-build.log" 2>&1 \
  || { echo "error: sam build failed; see $OUT/sam-build.log" >&2; exit 1; }

# The layer for this machine, built again only when layers/common changes.
layer_hash=$(find layers/common -type f -not -path '*/__pycache__/*' | sort | xargs sha256sum | sha256sum | cut -c1-16)
if [ "$(cat "$OUT/layer-x86_64.hash" 2> /dev/null)" != "$layer_hash" ]; then
  step "the common layer for x86_64 (into $OUT/layer-x86_64)"
  "$PY" layers/common/build_layer.py "$OUT/layer-x86_64" --platform local > "$OUT/layer-build.log" 2>&1 \
    || { echo "error: the layer build failed; see $OUT/layer-build.log" >&2; exit 1; }
  echo "$layer_hash" > "$OUT/layer-x86_64.hash"
fi
# The copy: x86_64, that layer, and each function's timeout times TIMEOUT_FACTOR (4): a cold
# container on a busy 2-core machine can miss the webhook's 3 s, and then warmline answers 503
# `timeout`, as it does when AWS is slow. The time budgets are the local stack's and the benchmark's
# to check; this run checks SAM's wiring.
sed -e 's/^\(\s*- \)arm64$/\1x86_64/' -e 's/BuildArchitecture: arm64$/BuildArchitecture: x86_64/' \
  -e 's|ContentUri: CommonLayer$|ContentUri: ../layer-x86_64|' "$OUT/build/template.yaml" \
  | awk -v factor="${TIMEOUT_FACTOR:-4}" '/^      Timeout: [0-9]+$/ { $0 = "      Timeout: " $2 * factor } { print }' \
    > "$OUT/build/template-x86_64.yaml"
if grep -q arm64 "$OUT/build/template-x86_64.yaml" || ! grep -q 'ContentUri: ../layer-x86_64' "$OUT/build/template-x86_64.yaml"; then
  echo "error: $OUT/build/template-x86_64.yaml: the built template's architecture or layer moved; fix tools/sam_local/run.sh" >&2
  exit 1
fi

step "the events through sam local invoke, then the routes through sam local start-api"
status=0
WARMLINE_SAM_LOCAL_TEMPLATE="$OUT/build/template-x86_64.yaml" env -u PYTHONDONTWRITEBYTECODE "$PY" -m pytest tests/integration/test_sam_local_docker.py -q -s \
  || status=$?
docker image prune -f > /dev/null 2>&1 || true # SAM builds its image again at each invoke: drop the old ones
step "done (status $status)"
exit "$status"
