"""`make demo`: operates the deployed local cloud the way schedules and operators do.

Invokes the scheduled head jobs through the Lambda Invoke API (with their schedules' input) and
lets the template's rules run the follow-ups from the `Job Succeeded` events; shows progress live
from the run ledger; invokes the ESR dispatch function and lets the SQS event source drive the
exporter; then prints a summary: the status (the ledger, the ESR files, each search alias), TCS's
revalidation queue on RabbitMQ, the ESR files in the bucket.

Reads the local cloud's environment (infra/local/cloud.sh up demo) from the process.
"""
import datetime
import json
import os
import subprocess
import sys
import time

import boto3

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TIS_SYNC = os.path.join(ROOT, "target", "debug", "tis-sync")


def graph():
    """The job graph from the code (`tis-sync graph`), never a copy."""
    out = subprocess.run([TIS_SYNC, "graph"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["jobs"]


GRAPH = graph()
HEADS = [(node["job"], node["schedule"]["at"]) for node in GRAPH if node["schedule"]]
JOBS = [node["job"] for node in GRAPH]


def client(service):
    return boto3.client(service, endpoint_url=os.environ["TIS_SYNC_MINISTACK_URL"], region_name="eu-west-2",
                        aws_access_key_id="test", aws_secret_access_key="test")


def status():
    out = subprocess.run([TIS_SYNC, "status"], capture_output=True, text=True, env={**os.environ, "RUST_LOG": "error"})
    if out.returncode != 0:
        sys.exit(f"tis-sync status failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def say(text):
    print(f"{datetime.datetime.now():%H:%M:%S}  {text}", flush=True)


def run_the_night(today):
    lam = client("lambda")
    stack = os.environ["TIS_SYNC_STACK"]
    for job, at in HEADS:
        payload = {"trigger": "schedule", "scheduledTime": f"{today}T{at}:00Z"}
        lam.invoke(FunctionName=f"{stack}-{job}", InvocationType="Event", Payload=json.dumps(payload).encode())
        say(f"invoked {stack}-{job} as its {at} UTC schedule would")
    seen = {}
    deadline = time.time() + 300
    while time.time() < deadline:
        jobs = {j["job"]: j for j in status()["jobs"]}
        for name in JOBS:
            job = jobs[name]
            run = job.get("lastRun") or {}
            if run.get("asOf") != today:
                continue
            state = "running" if job["runningNow"] else run["status"]
            key = (run["runId"], state)
            if key in seen:
                continue
            seen[key] = True
            if state == "running":
                say(f"▶ {name} running ({run['trigger']})")
            elif state == "succeeded":
                say(f"✓ {name} succeeded in {run.get('durationMs', 0)} ms, {run.get('rows')} rows ({run['trigger']})")
            elif state == "deferred":
                # The ledger's reason already says "deferred: …".
                say(f"… {name} {run.get('error')}")
            else:
                say(f"✗ {name} {state}: {run.get('error')}")
        if all((jobs[j].get("lastSuccess") or {}).get("asOf") == today for j in JOBS):
            say("the whole nightly graph succeeded, driven by events alone")
            return True
        time.sleep(0.5)
    say("the nightly graph did not finish within 5 minutes; see .local/demo/functions.log")
    return False


def export_to_esr():
    lam = client("lambda")
    answer = lam.invoke(FunctionName=f"{os.environ['TIS_SYNC_STACK']}-esr-export-dispatch", Payload=b"{}")
    dispatched = json.loads(answer["Payload"].read())
    if answer.get("FunctionError"):
        sys.exit(f"dispatch failed: {dispatched}")
    say(f"esr-export-dispatch sent {len(dispatched['commands'])} commands to the command queue")
    deadline = time.time() + 120
    while time.time() < deadline:
        files = [d for d in status()["esr"]["deaneries"] if d.get("appFile")]
        if len(files) == len(dispatched["commands"]):
            say(f"the exporter made {len(files)} files from the queue")
            return
        time.sleep(0.5)
    say("not every ESR file was made within 2 minutes; see .local/demo/functions.log")


def summary():
    print()
    subprocess.run([TIS_SYNC, "status"], stdout=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "error"})
    print()
    # TCS's queue on the local RabbitMQ, counted by the broker itself.
    queues = subprocess.run([os.path.join(ROOT, "infra/local/rabbitmq.sh"), "ctl", "list_queues", "name", "messages"],
                            capture_output=True, text=True, check=True,
                            env={**os.environ, "TIS_SYNC_STATE_DIR": os.path.join(ROOT, ".local/demo")}).stdout
    waiting = dict(line.split("\t") for line in queues.splitlines()[1:] if "\t" in line)
    tcs_queue = "reval.queue.trainee.update.tcs"
    print(f"revalidation feeds: {waiting.get(tcs_queue, '0')} message(s) of trainee ids waiting on RabbitMQ in "
          f"{tcs_queue}, where TCS reads them")
    bucket = os.environ["ESR_EXPORT_BUCKET"]
    objects = client("s3").list_objects_v2(Bucket=bucket).get("Contents", [])
    print(f"ESR files in s3://{bucket}: {len(objects)}")
    for o in objects[:5]:
        print(f"  {o['Key']}  {o['Size']} bytes")
    if len(objects) > 5:
        print(f"  ... and {len(objects) - 5} more")


def main():
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    ok = run_the_night(today)
    export_to_esr()
    summary()
    print("\nLook around: `. .local/demo/cloud.env && target/debug/tis-sync status`; function logs in "
          ".local/demo/functions.log; the emulator at $TIS_SYNC_MINISTACK_URL; `make down` stops everything.")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
