#!/usr/bin/env python3
"""Check a running moto launcher (infra/moto/server.py).

Usage: .venv/bin/python infra/moto/selfcheck.py http://127.0.0.1:PORT

Checks: (a) 50 concurrent UpdateItem ADDs on one item end at 50;
(b) 20 concurrent conflicting TransactWriteItems: exactly one succeeds, no
stray items; (c) SQS create/send/receive; (d) SES v2 identity + SendEmail,
message visible in /moto-api/data.json, unverified sender rejected;
(e) UpdateTimeToLive accepted. Exits non-zero on the first failure.
"""

import json
import sys
import threading
import urllib.request
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"


def client(name, url):
    return boto3.client(
        name,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=64),
    )


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)
    print(f"ok   {msg}")


def run_threads(n, fn):
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        barrier.wait()
        try:
            results[i] = ("ok", fn(i))
        except Exception as e:  # noqa: BLE001 - collected and reported
            results[i] = ("err", e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def check_dynamodb(url):
    table = f"selfcheck-{uuid.uuid4().hex[:8]}"
    ddb = client("dynamodb", url)
    ddb.create_table(
        TableName=table,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )

    # (a) 50 concurrent ADDs, one client per thread.
    clients = [client("dynamodb", url) for _ in range(50)]

    def add(i):
        clients[i].update_item(
            TableName=table,
            Key={"pk": {"S": "counter"}, "sk": {"S": "c"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )

    res = run_threads(50, add)
    errs = [r[1] for r in res if r[0] == "err"]
    check(not errs, f"(a) 50 concurrent UpdateItem ADD calls raised no error {errs[:1]}")
    item = ddb.get_item(
        TableName=table, Key={"pk": {"S": "counter"}, "sk": {"S": "c"}}, ConsistentRead=True
    )["Item"]
    check(item["n"]["N"] == "50", f"(a) counter is 50 (got {item['n']['N']})")

    # (b) 20 concurrent transactions on the same two keys.
    tclients = [client("dynamodb", url) for _ in range(20)]

    def txn(i):
        tclients[i].transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": table,
                        "Item": {"pk": {"S": key}, "sk": {"S": "t"}, "writer": {"N": str(i)}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
                for key in ("txn-a", "txn-b")
            ]
        )
        return i

    res = run_threads(20, txn)
    winners = [r[1] for r in res if r[0] == "ok"]
    losers = [r[1] for r in res if r[0] == "err"]
    check(len(winners) == 1, f"(b) exactly one TransactWriteItems succeeded (got {len(winners)})")
    codes = {
        e.response["Error"]["Code"] if isinstance(e, ClientError) else repr(e) for e in losers
    }
    check(
        codes == {"TransactionCanceledException"},
        f"(b) the 19 others failed with TransactionCanceledException ({codes})",
    )
    items = ddb.scan(TableName=table, ConsistentRead=True)["Items"]
    txn_items = sorted(
        (i["pk"]["S"], i["writer"]["N"]) for i in items if i["pk"]["S"].startswith("txn-")
    )
    w = str(winners[0])
    check(
        txn_items == [("txn-a", w), ("txn-b", w)] and len(items) == 3,
        f"(b) only the winner's two items exist, no strays ({txn_items}, {len(items)} items)",
    )

    # (e) TTL
    ddb.update_time_to_live(
        TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"}
    )
    ttl = ddb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    check(
        ttl.get("TimeToLiveStatus") == "ENABLED" and ttl.get("AttributeName") == "ttl",
        f"(e) UpdateTimeToLive accepted: {ttl}",
    )
    ddb.delete_table(TableName=table)


def check_sqs(url):
    sqs = client("sqs", url)
    name = f"selfcheck-{uuid.uuid4().hex[:8]}"
    qurl = sqs.create_queue(QueueName=name)["QueueUrl"]
    print(f"info SQS QueueUrl = {qurl}")
    sqs.send_message(QueueUrl=qurl, MessageBody='{"hello":"world"}')
    msgs = sqs.receive_message(QueueUrl=qurl, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    check(
        len(msgs) == 1 and msgs[0]["Body"] == '{"hello":"world"}',
        "(c) SQS create_queue/send_message/receive_message round-trip",
    )
    sqs.delete_message(QueueUrl=qurl, ReceiptHandle=msgs[0]["ReceiptHandle"])
    sqs.delete_queue(QueueUrl=qurl)


def ses_messages(url):
    """Sent Simple-content emails: data["ses"]["Message"] is one flat list
    (all accounts and regions, oldest first) of
    {"id", "source", "subject", "body", "destinations": {"ToAddresses": [...], ...}}."""
    with urllib.request.urlopen(f"{url}/moto-api/data.json") as resp:
        data = json.load(resp)
    return data.get("ses", {}).get("Message", [])


def check_ses(url):
    ses = client("sesv2", url)
    sender = "no-reply@example.com"
    ses.create_email_identity(EmailIdentity=sender)
    tag = uuid.uuid4().hex[:8]
    subject = f"Selfcheck {tag}"
    resp = ses.send_email(
        FromEmailAddress=sender,
        Destination={"ToAddresses": ["learner@example.org"]},
        Content={
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": f"text body {tag}", "Charset": "UTF-8"},
                    "Html": {"Data": f"<p>html body {tag}</p>", "Charset": "UTF-8"},
                },
            }
        },
    )
    msg_id = resp["MessageId"]
    found = [m for m in ses_messages(url) if m.get("id") == msg_id]
    check(len(found) == 1, f"(d) sent message {msg_id} is in data.json ses.Message[]")
    print("info data.json message: " + json.dumps(found[0]))
    m = found[0]
    check(m.get("subject") == subject, "(d) subject stored")
    check(m.get("source") == sender, "(d) source stored")
    check(m.get("destinations", {}).get("ToAddresses") == ["learner@example.org"], "(d) destination stored")
    # moto keeps ONE body: Html.Data when Html is given, else Text.Data.
    check(m.get("body") == f"<p>html body {tag}</p>", "(d) body = the Html part (Text part dropped)")
    resp = ses.send_email(
        FromEmailAddress=f"Learner Service <{sender}>",
        Destination={"ToAddresses": ["a@example.org"], "CcAddresses": ["b@example.org"]},
        Content={"Simple": {"Subject": {"Data": "text only"}, "Body": {"Text": {"Data": f"plain {tag}"}}}},
    )
    m = [m for m in ses_messages(url) if m.get("id") == resp["MessageId"]][0]
    check(m.get("body") == f"plain {tag}", "(d) text-only message: body = the Text part")
    check(m.get("source") == f"Learner Service <{sender}>", "(d) display-name sender accepted, stored verbatim")
    check(
        m.get("destinations") == {"ToAddresses": ["a@example.org"], "CcAddresses": ["b@example.org"]},
        f"(d) destinations stored as the request's Destination object: {m.get('destinations')}",
    )

    try:
        ses.send_email(
            FromEmailAddress="stranger@unverified.example",
            Destination={"ToAddresses": ["learner@example.org"]},
            Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}}},
        )
        raise AssertionError("(d) sending from an unverified identity was accepted")
    except ClientError as e:
        err = e.response["Error"]
        print(f"info unverified sender -> HTTP {e.response['ResponseMetadata']['HTTPStatusCode']} {err}")
        check(err["Code"] == "MessageRejected", "(d) unverified sender rejected with MessageRejected")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    url = sys.argv[1].rstrip("/")
    try:
        check_dynamodb(url)
        check_sqs(url)
        check_ses(url)
    except AssertionError as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    print("selfcheck passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
