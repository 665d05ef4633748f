"""A remote HTTP logger for the tests (testrunner-lite's -L): records each
request as a JSON line.

Usage: http-log-receiver.py PORT LOG
Each line holds the method, the path, the content type and the raw body.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

port, log = int(sys.argv[1]), sys.argv[2]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        record = {
            "method": self.command,
            "path": self.path,
            "type": self.headers.get("Content-Type"),
            "body": body.decode("utf-8", "replace"),
        }
        with open(log, "a") as out:
            out.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
