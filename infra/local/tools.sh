#!/usr/bin/env bash
# Installs the pinned local tools (infra/tools/versions.env) into virtualenvs under the tools
# directory and prints nothing but errors. Idempotent: a venv whose requirement file is unchanged is
# kept. Each tool gets its own venv because ministack pins its own botocore. Every venv installs
# from its hash-locked infra/tools/requirements/<venv>.txt (transitive dependencies included; see
# the README there for how to regenerate one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../tools/versions.env
source "$here/../tools/versions.env"
reqs="$here/../tools/requirements"
tools_dir=${TIS_SYNC_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tis-sync/tools}
mkdir -p "$tools_dir"

venv() { # name, then package==version for each top-level pin that versions.env sets
  local name=$1; shift
  local dir="$tools_dir/$name" req="$reqs/$name.txt" pin stamp
  for pin in "$@"; do
    if ! grep -Fqx "$pin" "$reqs/$name.in" || ! grep -Fqx "$pin \\" "$req"; then
      echo "tools.sh: $name.in or $name.txt in $reqs does not pin $pin (versions.env)" >&2
      exit 1
    fi
  done
  stamp=$(sha256sum < "$req" | cut -d" " -f1)
  if [[ -f "$dir/.pins" && "$(cat "$dir/.pins")" == "$stamp" ]]; then return 0; fi
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$req"
  echo "$stamp" > "$dir/.pins"
}

# `tools.sh sam`: only the aws-sam-cli that `make package` builds with (large; the tests do not
# need it).
if [[ "${1:-}" == sam ]]; then
  venv sam "aws-sam-cli==$AWS_SAM_CLI_VERSION"
  venv cargo-lambda "cargo-lambda==$CARGO_LAMBDA_VERSION"
  exit 0
fi

venv ministack "ministack==$MINISTACK_VERSION" "aws-sam-translator==$AWS_SAM_TRANSLATOR_VERSION"
venv cargo-lambda "cargo-lambda==$CARGO_LAMBDA_VERSION"
venv lint "cfn-lint==$CFN_LINT_VERSION" "cfn-lint-serverless==$CFN_LINT_SERVERLESS_VERSION"
venv deploy "boto3==$BOTO3_VERSION"
venv checkov "checkov==$CHECKOV_VERSION"

# osmem-server: the wheel carries a static binary; check its hash before trusting it.
osmem="$tools_dir/osmem/bin/osmem-server"
if [[ ! -x "$osmem" || "$(cat "$tools_dir/osmem/.pins" 2>/dev/null)" != "$OSMEM_SERVER_VERSION" ]]; then
  rm -rf "$tools_dir/osmem" && mkdir -p "$tools_dir/osmem/wheel"
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    -d "$tools_dir/osmem/wheel" "osmem-server==$OSMEM_SERVER_VERSION"
  wheel=$(ls "$tools_dir"/osmem/wheel/*.whl)
  if [[ "$(uname -m)" == x86_64 ]]; then
    echo "$OSMEM_SERVER_SHA256  $wheel" | sha256sum --check --quiet
  fi
  python3 -m venv "$tools_dir/osmem"
  "$tools_dir/osmem/bin/pip" install --quiet --disable-pip-version-check --no-deps "$wheel"
  ln -sf "$(ls "$tools_dir"/osmem/lib/python3*/site-packages/osmem_server/bin/osmem-server)" "$osmem"
  echo "$OSMEM_SERVER_VERSION" > "$tools_dir/osmem/.pins"
fi
