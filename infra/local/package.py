"""Reads what `sam package` uploaded (its JSON output template names each function's zip in the
bucket), checks that every function deploys the one artifact (the same zip of the one binary),
saves it as ZIP_DIR/<binary>.zip and prints its size and its bootstrap's. Fails if the zip is
over 10 MB, a function has no uploaded zip, or two functions deploy different ones.

Run with the pinned aws-sam-cli's Python (boto3 comes with it):
    package.py PACKAGED_TEMPLATE BUILD_DIR ZIP_DIR    (AWS_ENDPOINT_URL names the bucket's S3)

The bootstrap is found where BUILD_DIR's built template says the functions' code is: with
samconfig's `beta_features = true`, SAM's BuildPerformance flag leaves the one build in the first
function's folder and points every function there, instead of copying it into each one's.
"""
import json
import os
import sys

import boto3
from samcli.yamlhelper import yaml_parse

MB = 1024 * 1024  # binary megabytes, as the benchmark reports them and Lambda counts memory
LIMIT_BYTES = 10 * MB  # docs/performance.md: the bootstrap <= 10 MB zipped


def main(packaged_template: str, build_dir: str, zip_dir: str) -> int:
    with open(packaged_template, encoding="utf-8") as f:
        template = json.load(f)
    functions = {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    if not functions:
        print("error: the packaged template has no functions", file=sys.stderr)
        return 1
    artifacts = {}
    for logical_id, resource in sorted(functions.items()):
        code_uri = resource["Properties"].get("CodeUri", "")
        if not code_uri.startswith("s3://"):
            print(f"error: {logical_id}'s CodeUri is {code_uri!r}, not an uploaded zip", file=sys.stderr)
            return 1
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        artifacts.setdefault((binary, code_uri), []).append(logical_id)
    if len(artifacts) != 1:
        found = "; ".join(f"{uri} ({', '.join(ids)})" for (_, uri), ids in artifacts.items())
        print(f"error: the functions deploy {len(artifacts)} artifacts, not one: {found}", file=sys.stderr)
        return 1
    [((binary, code_uri), logical_ids)] = artifacts.items()
    bucket, key = code_uri[len("s3://"):].split("/", 1)
    os.makedirs(zip_dir, exist_ok=True)
    zipped = os.path.join(zip_dir, f"{binary}.zip")
    boto3.client("s3").download_file(bucket, key, zipped)
    size = os.path.getsize(zipped)
    with open(os.path.join(build_dir, "template.yaml"), encoding="utf-8") as f:
        built = yaml_parse(f.read())
    built_code = {built["Resources"][logical_id]["Properties"]["CodeUri"] for logical_id in logical_ids}
    if len(built_code) != 1:
        print(f"error: the built functions' code is in {len(built_code)} folders, not one: {sorted(built_code)}", file=sys.stderr)
        return 1
    unzipped = os.path.getsize(os.path.join(build_dir, built_code.pop(), "bootstrap"))
    print(f"{binary} (all {len(logical_ids)} functions): {unzipped / MB:.1f} MB bootstrap, {size / MB:.1f} MB zipped")
    if size > LIMIT_BYTES:
        print(f"error: {binary} is over 10 MB zipped", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
