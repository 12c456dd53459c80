"""Zips each function artifact of a `sam build` exactly as `sam package`/`sam deploy` would
upload it (SAM's own make_zip), names the zip after the function's binary, and prints the sizes.

Run with the pinned aws-sam-cli's Python: package.py BUILD_DIR ZIP_DIR
"""
import os
import sys

from samcli.lib.package.utils import make_zip
from samcli.yamlhelper import yaml_parse

MB = 1024 * 1024  # binary megabytes, as the benchmark reports them and Lambda counts memory
LIMIT_BYTES = 10 * MB  # performance.md: each bootstrap <= 10 MB zipped


def main(build_dir: str, zip_dir: str) -> int:
    with open(os.path.join(build_dir, "template.yaml"), encoding="utf-8") as f:
        template = yaml_parse(f.read())
    os.makedirs(zip_dir, exist_ok=True)
    over = []
    functions = [
        (r["Metadata"]["BuildProperties"]["Binary"], r["Properties"]["CodeUri"])
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::Function"
    ]
    if not functions:
        print("error: the built template has no functions", file=sys.stderr)
        return 1
    for binary, code_uri in sorted(functions):
        artifact = os.path.join(build_dir, code_uri)
        zipped = make_zip(os.path.join(zip_dir, binary), artifact)
        size = os.path.getsize(zipped)
        unzipped = os.path.getsize(os.path.join(artifact, "bootstrap"))
        print(f"{binary:<40} {unzipped / MB:6.1f} MB bootstrap {size / MB:6.1f} MB zipped")
        if size > LIMIT_BYTES:
            over.append(binary)
    if over:
        print(f"error: over 10 MB zipped: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
