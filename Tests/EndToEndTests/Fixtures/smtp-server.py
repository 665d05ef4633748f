"""A real SMTP server for the tests (aiosmtpd): keeps each message it
takes as a file, and a JSON line of what Python's e-mail parser reads in it.

Usage: smtp-server.py PORT FOLDER [CERT KEY USER PASSWORD]
Each message is FOLDER/N-PID.eml; FOLDER/messages.jsonl gets
{"file", "from", "to", "subject", "to_header", "body", "attachments":
[{"name", "type", "content"}], "tls", "user"} per message. With a
certificate, its key and a user, the server requires STARTTLS and then
AUTH with that user and password. Runs until killed.
"""
import email
import email.policy
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

port, folder = int(sys.argv[1]), sys.argv[2]
secure = sys.argv[3:7]


class Keeper:
    async def handle_DATA(self, server, session, envelope):
        count = len([name for name in os.listdir(folder) if name.endswith(".eml")])
        path = os.path.join(folder, "%d-%d.eml" % (count, os.getpid()))
        with open(path, "wb") as out:
            out.write(envelope.original_content or envelope.content)
        message = email.message_from_bytes(envelope.original_content or envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "file": path,
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "subject": str(message["Subject"]),
            "to_header": str(message["To"]),
            "body": body.get_content() if body is not None else None,
            "tls": session.ssl is not None,
            "user": session.auth_data if session.authenticated else None,
            "attachments": [
                {"name": part.get_filename(), "type": part.get_content_type(), "content": part.get_content().decode("utf-8")
                 if isinstance(part.get_content(), bytes) else part.get_content()}
                for part in message.iter_attachments()
            ],
        }
        with open(os.path.join(folder, "messages.jsonl"), "a") as out:
            out.write(json.dumps(record) + "\n")
        return "250 Message accepted for delivery"


def authenticate(server, session, envelope, mechanism, auth_data):
    login, password = auth_data.login.decode(), auth_data.password.decode()
    if secure and login == secure[2] and password == secure[3]:
        return AuthResult(success=True, auth_data=login)
    return AuthResult(success=False, handled=False)


if secure:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(secure[0], secure[1])
    controller = Controller(
        Keeper(), hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
        authenticator=authenticate, auth_required=True, auth_require_tls=True)
else:
    controller = Controller(Keeper(), hostname="127.0.0.1", port=port)
controller.start()
print("listening", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    controller.stop()
