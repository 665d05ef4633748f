"""Calls the server's XML-RPC interface as the original OTS's clients did,
with Python's own xmlrpc.client, and prints what came back as one JSON line.

Usage: xmlrpc-call.py URL METHOD JSON_PARAMS [SOCKET_TIMEOUT]
URL is the server's address (user:TOKEN@host:port carries a token, as
ots_trigger's -s did). JSON_PARAMS is the parameter list. Prints
{"result": ...}, {"fault": CODE, "message": ...}, {"protocol_error": STATUS}
or {"timeout": true} when SOCKET_TIMEOUT seconds pass without an answer
(the client then goes away, its connection closed).
"""
import json
import socket
import sys
import xmlrpc.client

url, method, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if len(sys.argv) > 4:
    socket.setdefaulttimeout(float(sys.argv[4]))
server = xmlrpc.client.ServerProxy(url)
try:
    result = getattr(server, method)(*params)
    print(json.dumps({"result": result}))
except xmlrpc.client.Fault as fault:
    print(json.dumps({"fault": fault.faultCode, "message": fault.faultString}))
except xmlrpc.client.ProtocolError as error:
    print(json.dumps({"protocol_error": error.errcode}))
except (socket.timeout, TimeoutError):
    print(json.dumps({"timeout": True}))
