"""A syslog socket for the tests (testrunner-lite's -S): binds a datagram
socket at PATH and writes each message on a line of LOG until one is END.

Usage: syslog-receiver.py PATH LOG
"""
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
receiver.bind(path)
os.chmod(path, 0o666)
receiver.settimeout(60)
with open(log, "w") as out:
    while True:
        message = receiver.recv(65536).decode("utf-8", "replace")
        if message == "END":
            break
        out.write(message + "\n")
        out.flush()
