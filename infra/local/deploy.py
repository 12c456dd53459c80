"""Deploys template.yaml itself to the local AWS emulator (ministack), as CloudFormation does.

It reads the template in CloudFormation's JSON form, which `template-json` (tests/bin) prints, so
the project parses template.yaml with one YAML parser. Two local adjustments, made on that copy
and never in template.yaml (docs/local-stack.md):
  - CodeUri becomes an s3:// URI of a placeholder zip in the emulator's S3;
  - each function gets MINISTACK_LAMBDA_PROXY_URL, so the emulator forwards its invocations to
    a `cargo lambda watch` of its own, which runs the real binary named in
    Metadata.BuildProperties.Binary with the function's TIS_SYNC_FUNCTION (as Lambda runs each
    function in environments of its own).

Usage: deploy.py --template TEMPLATE.json --endpoint URL --stack NAME --watchers FILE --out FILE
                 --processed FILE --start-watcher COMMAND [--parameter KEY=VALUE ...]
--watchers is written: a line "FUNCTION PORT BINARY" per function, the port its watcher is to
listen on. The functions a custom resource calls (sync-migrate, which CloudFormation invokes
during the deploy) are started before the stack is created, by COMMAND FUNCTION PORT BINARY. Writes the stack's outputs as JSON to --out, and the template as deployed (after the
SAM transform) to --processed. The functions' database secrets are `tis-sync logins`' to write.
"""
import argparse
import io
import json
import shlex
import socket
import subprocess
import sys
import time
import zipfile

import boto3

REGION = "eu-west-2"
CODE_BUCKET = "tis-sync-local-code"


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name=REGION,
                        aws_access_key_id="test", aws_secret_access_key="test")


def placeholder_code(endpoint):
    s3 = client("s3", endpoint)
    try:
        s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        # Never run: every function is proxied to cargo lambda watch.
        z.writestr("bootstrap", "#!/bin/sh\necho 'placeholder: proxied to cargo lambda watch' >&2\nexit 1\n")
    s3.put_object(Bucket=CODE_BUCKET, Key="placeholder.zip", Body=archive.getvalue())
    return f"s3://{CODE_BUCKET}/placeholder.zip"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_copy(template_path, code_uri):
    """The template to deploy, each function's watcher (function, port, binary), and the
    watchers custom resources call during the deploy."""
    with open(template_path) as f:
        template = json.load(f)
    template["Globals"]["Function"]["CodeUri"] = code_uri
    watchers = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        binary = resource["Metadata"]["BuildProperties"]["Binary"]
        variables = resource["Properties"]["Environment"]["Variables"]
        port = free_port()
        watchers[name] = (variables["TIS_SYNC_FUNCTION"], port, binary)
        variables["MINISTACK_LAMBDA_PROXY_URL"] = f"http://127.0.0.1:{port}/2015-03-31/functions/{binary}/invocations"
    called = [watchers[r["Properties"]["ServiceToken"]["Fn::GetAtt"][0]]
              for r in template["Resources"].values() if r["Type"].startswith("Custom::")]
    return template, list(watchers.values()), called


def deploy(endpoint, stack, template, parameters):
    cf = client("cloudformation", endpoint)
    try:
        cf.delete_stack(StackName=stack)
        wait(cf, stack, allow_missing=True)
    except cf.exceptions.ClientError:
        pass
    # Through S3, as `sam deploy` does: CloudFormation takes at most 51,200 bytes inline.
    client("s3", endpoint).put_object(Bucket=CODE_BUCKET, Key=f"{stack}.template.json", Body=json.dumps(template))
    cf.create_stack(StackName=stack, TemplateURL=f"{endpoint}/{CODE_BUCKET}/{stack}.template.json",
                    Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    status = wait(cf, stack)
    if status["StackStatus"] != "CREATE_COMPLETE":
        failures = [f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
                    for e in cf.describe_stack_events(StackName=stack)["StackEvents"]
                    if "FAILED" in e["ResourceStatus"]]
        sys.exit(f"deploy.py: stack {stack} is {status['StackStatus']}: " + "; ".join(failures))
    return {o["OutputKey"]: o["OutputValue"] for o in status.get("Outputs", [])}


def wait(cf, stack, allow_missing=False, timeout=120):
    deadline = time.time() + timeout
    while True:
        try:
            status = cf.describe_stacks(StackName=stack)["Stacks"][0]
        except cf.exceptions.ClientError:
            if allow_missing:
                return None
            raise
        if not status["StackStatus"].endswith("IN_PROGRESS"):
            return status
        if time.time() > deadline:
            sys.exit(f"deploy.py: stack {stack} still {status['StackStatus']} after {timeout} s")
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--watchers", required=True, help="where to write each function's watcher port")
    parser.add_argument("--template", required=True, help="template.yaml as CloudFormation JSON (template-json)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--processed", required=True, help="where to write the processed template (JSON)")
    parser.add_argument("--start-watcher", required=True, help="starts one function's watcher: + FUNCTION PORT BINARY")
    parser.add_argument("--parameter", action="append", default=[], help="KEY=VALUE")
    args = parser.parse_args()

    parameters = {
        "Stage": "local",
        # The emulator does not check networks; the functions run on this machine.
        "SubnetIds": "subnet-00000000000000001",
        "SecurityGroupIds": "sg-00000000000000001",
        # Names the domain in the grants. The binaries run under cargo lambda watch, whose
        # environment names the local OpenSearch-API server instead (OPENSEARCH_URL, plain http):
        # a managed domain's endpoint is always https, which that server does not speak.
        "OpenSearchDomainName": "local",
    }
    parameters.update(dict(p.split("=", 1) for p in args.parameter))
    template, watchers, called = local_copy(args.template, placeholder_code(args.endpoint))
    with open(args.watchers, "w") as f:
        f.writelines(f"{function} {port} {binary}\n" for function, port, binary in watchers)
    for function, port, binary in called:
        subprocess.run([*shlex.split(args.start_watcher), function, str(port), binary], check=True)
    outputs = deploy(args.endpoint, args.stack, template, parameters)
    with open(args.out, "w") as f:
        json.dump(outputs, f, indent=1)
    # The template as deployed, after the SAM transform: what the access-matrix test reads.
    processed = client("cloudformation", args.endpoint).get_template(StackName=args.stack, TemplateStage="Processed")
    body = processed["TemplateBody"]
    with open(args.processed, "w") as f:
        f.write(body if isinstance(body, str) else json.dumps(body, indent=1))


if __name__ == "__main__":
    main()
