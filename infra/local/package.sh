#!/usr/bin/env bash
# `make package`: what an infra engineer deploying template.yaml runs. The pinned aws-sam-cli
# validates the template (`sam validate --lint`) and builds every function with its own
# BuildMethod (rust-cargolambda: cargo lambda build --release --arm64, cross-compiled with zig, no
# Docker) into target/sam/build; each artifact is then zipped as `sam deploy` uploads it into
# target/sam/zip/<binary>.zip, where the benchmark reads the sizes.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$here/tools.sh" sam
tools_dir=${TIS_SYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/tools}
# The arm64 standard library, from the toolchain's own distribution server (a no-op once added).
rustup target add aarch64-unknown-linux-gnu >/dev/null
# cargo-lambda and the zig it links with come from the pinned cargo-lambda wheel.
export PATH="$tools_dir/cargo-lambda/bin:$PATH"
export SAM_CLI_TELEMETRY=0 AWS_REGION=${AWS_REGION:-eu-west-2}
sam="$tools_dir/sam/bin/sam"
cd "$root"
"$sam" validate --lint --template-file template.yaml
start=$(date +%s)
"$sam" build --template-file template.yaml --build-dir target/sam/build --cache-dir target/sam/cache
echo "sam build took $(( $(date +%s) - start )) s"
"$tools_dir/sam/bin/python" "$here/package.py" target/sam/build target/sam/zip
