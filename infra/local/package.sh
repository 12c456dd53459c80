#!/usr/bin/env bash
# `make package`: what an infra engineer deploying template.yaml runs. The pinned aws-sam-cli
# validates the template (`sam validate --lint`), builds the one binary every function runs
# (rust-cargolambda: cargo lambda build --release --arm64, cross-compiled with zig, no Docker;
# SAM builds functions with equal build definitions once) into target/sam/build, and packages
# it (`sam package`: zipped and uploaded, as `sam deploy` does) into a bucket of the local AWS
# emulator, since no AWS account is at hand. The zip is saved as
# target/sam/zip/tis-sync-lambda.zip, where the benchmark reads its size.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
"$here/tools.sh" sam
"$here/tools.sh"
tools_dir=${TIS_SYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/tools}
# The arm64 standard library, from the toolchain's own distribution server (a no-op once added).
rustup target add aarch64-unknown-linux-gnu >/dev/null
# cargo-lambda and the zig it links with come from the pinned cargo-lambda wheel.
export PATH="$tools_dir/cargo-lambda/bin:$PATH"
export SAM_CLI_TELEMETRY=0 AWS_REGION=${AWS_REGION:-eu-west-2}
sam="$tools_dir/sam/bin/sam"
cd "$root"
"$sam" validate --lint --template-file template.yaml
# Each environment of samconfig.toml, as `sam deploy --config-env` reads it.
for environment in stage prod; do
  "$sam" validate --lint --config-env "$environment" --template-file template.yaml
done
start=$(date +%s)
"$sam" build --template-file template.yaml --build-dir target/sam/build --cache-dir target/sam/cache
echo "sam build took $(( $(date +%s) - start )) s"

# The emulator's S3 stands in for the deployment bucket; its credentials are the emulator's.
export TIS_SYNC_STATE_DIR=$root/.local/package
export AWS_ENDPOINT_URL AWS_DEFAULT_REGION=$AWS_REGION AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
AWS_ENDPOINT_URL=$("$here/ministack.sh")
trap 'kill "$(cat "$TIS_SYNC_STATE_DIR/ministack.pid")" 2>/dev/null; rm -f "$TIS_SYNC_STATE_DIR/ministack.pid"' EXIT
bucket=tis-sync-artifacts
"$tools_dir/sam/bin/python" -c "import boto3, sys; boto3.client('s3').create_bucket(Bucket=sys.argv[1], \
  CreateBucketConfiguration={'LocationConstraint': sys.argv[2]})" "$bucket" "$AWS_REGION"
"$sam" package --template-file target/sam/build/template.yaml --s3-bucket "$bucket" --region "$AWS_REGION" \
  --use-json --output-template-file target/sam/packaged.json > "$TIS_SYNC_STATE_DIR/sam-package.log" 2>&1 \
  || { cat "$TIS_SYNC_STATE_DIR/sam-package.log" >&2; exit 1; }
"$tools_dir/sam/bin/python" "$here/package.py" target/sam/packaged.json target/sam/build target/sam/zip
