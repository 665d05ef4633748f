"""A webhook receiver for the tests: records each delivery as a JSON line.

Usage: webhook-receiver.py PORT SECRET LOG
POST /ok answers 200; POST /fail answers 500. Each line holds the path,
the event id and type, the attempt, and whether the signature is right.
"""
import hashlib
import hmac
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, secret, log = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        record = {
            "path": self.path,
            "id": self.headers.get("X-OTS-Event-ID"),
            "type": self.headers.get("X-OTS-Event-Type"),
            "attempt": self.headers.get("X-OTS-Delivery-Attempt"),
            "signed": hmac.compare_digest(expected, self.headers.get("X-OTS-Signature", "")),
            "body_id": json.loads(body).get("id"),
        }
        with open(log, "a") as out:
            out.write(json.dumps(record) + "\n")
        self.send_response(200 if self.path == "/ok" else 500)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
