#!/usr/bin/env python3
"""Local moto server for the integration tests.

Usage:
    .venv/bin/python infra/moto/server.py --port PORT [--host 127.0.0.1]
                                          [--port-file FILE] [--verbose]

Serves moto's full WSGI app (every service, as `moto_server` does) with a
threaded werkzeug server. `--port 0` picks a free port. Once the socket is
listening it prints exactly one line to stdout:

    MOTO_URL=http://127.0.0.1:<port>

and, with --port-file, writes that URL (no prefix, no newline) into FILE
(atomically: written to FILE.tmp, then renamed).

DynamoDB requests (X-Amz-Target: DynamoDB_...) are serialised by one global
lock, because moto does not apply concurrent DynamoDB writes atomically
(lost ADD updates, partial TransactWriteItems left behind).

`GET /_learners/ses/sent?to=ADDRESS` answers the mails moto's SES accepted for
ADDRESS, oldest first, as JSON: [{"to", "subject", "body"}]. The tests read
mail there, not from /moto-api/data.json, which serialises every backend
(every table's items of every test so far: 10 MB and 12 s late in a run).

The process exits by itself when its parent dies (ppid polled every second)
and on SIGTERM/SIGINT.
"""

import argparse
import logging
import os
import signal
import sys
import threading
import time


class SerializeDynamoDB:
    """WSGI middleware: one request at a time for the DynamoDB JSON API.

    The lock is held while the whole response body is produced: the inner
    app's iterable may be lazy, so it is materialised (and closed) inside
    the lock, and a plain list is returned to the server.
    """

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB_"):
            return self.app(environ, start_response)
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = [bytes(chunk) for chunk in result]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        return body


class SentMail:
    """WSGI middleware: `GET /_learners/ses/sent?to=ADDRESS`, read straight from
    moto's SES backends (the `Message` objects of SendEmail, as data.json's
    `ses.Message` lists them)."""

    PATH = "/_learners/ses/sent"

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != self.PATH:
            return self.app(environ, start_response)
        import json
        from urllib.parse import parse_qs
        from moto.ses.models import Message, ses_backends

        to = parse_qs(environ.get("QUERY_STRING", "")).get("to", [""])[0]
        found = []
        for regions in list(ses_backends.values()):
            for backend in list(regions.values()):
                for message in list(backend.sent_messages):
                    if not isinstance(message, Message):  # RawMessage: not sent here
                        continue
                    for address in message.destinations.get("ToAddresses", []):
                        if address == to:
                            found.append({"to": address, "subject": message.subject, "body": message.body})
        body = json.dumps(found).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


def watch_parent(original_ppid):
    """Exit the whole process as soon as the parent changes (i.e. died)."""
    while True:
        time.sleep(1.0)
        if os.getppid() != original_ppid:
            os._exit(0)


def write_port_file(path, url):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(url)
    os.replace(tmp, path)


def remove_port_file(path, url):
    try:
        with open(path) as f:
            if f.read().strip() != url:
                return  # someone else's by now
        os.unlink(path)
    except OSError:
        pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="0 = pick a free port")
    parser.add_argument("--port-file", help="write the URL into this file once listening")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)

    original_ppid = os.getppid()
    threading.Thread(target=watch_parent, args=(original_ppid,), daemon=True).start()

    def on_signal(signum, frame):
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # Imported after the watchdog is up: importing moto takes a moment.
    from werkzeug.serving import make_server
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)

    app = SentMail(SerializeDynamoDB(DomainDispatcherApplication(create_backend_app)))
    server = make_server(
        args.host,
        args.port,
        app,
        threaded=True,
        request_handler=MotoRequestHandler,
    )
    # make_server has bound and is listening; requests queue until serve_forever.
    port = server.server_port
    os.environ["MOTO_PORT"] = str(port)  # moto builds some URLs from it
    url = f"http://{args.host}:{port}"

    if args.port_file:
        write_port_file(args.port_file, url)
    sys.stdout.write(f"MOTO_URL={url}\n")
    sys.stdout.flush()
    # Anything moto prints later goes to stderr: stdout carries only the URL
    # line, and the reader may have closed it by then.
    sys.stdout = sys.stderr

    try:
        server.serve_forever()
    finally:
        if args.port_file:
            remove_port_file(args.port_file, url)
        # Don't wait for in-flight handler threads.
        os._exit(0)


if __name__ == "__main__":
    main()
