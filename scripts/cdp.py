#!/usr/bin/env python3
"""Drives a page of a running headless Chromium over the DevTools protocol.

The dashboard's end-to-end tests start Chromium with
--remote-debugging-port and use this to open pages, ask them questions and
take screenshots; the page keeps running between calls.

    cdp.py PORT open URL                      prints the new page's target id
    cdp.py PORT eval TARGET EXPRESSION        prints the value as JSON
    cdp.py PORT navigate TARGET URL
    cdp.py PORT screenshot TARGET FILE [WIDTH]  the whole page as PNG

Needs the websocket-client package (./scripts/test.sh installs it).
"""
import base64
import json
import sys
import urllib.parse
import urllib.request

import websocket


def endpoint(port, path, method="GET"):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


class Page:
    def __init__(self, port, target):
        pages = [t for t in endpoint(port, "/json/list") if t.get("id") == target]
        if not pages:
            raise SystemExit(f"cdp.py: no page {target}")
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        self.next_id = 0

    def call(self, method, **params):
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise SystemExit(f"cdp.py: {method}: {message['error'].get('message')}")
                return message.get("result", {})


def main(argv):
    if len(argv) < 4:
        raise SystemExit(__doc__)
    port, command = argv[1], argv[2]
    if command == "open":
        target = endpoint(port, "/json/new?" + urllib.parse.quote(argv[3], safe=":/?&=%#"), method="PUT")
        print(target["id"])
        return
    page = Page(port, argv[3])
    if command == "eval":
        result = page.call("Runtime.evaluate", expression=argv[4], returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise SystemExit(f"cdp.py: the page threw: {text}")
        print(json.dumps(result.get("result", {}).get("value")))
    elif command == "navigate":
        page.call("Page.navigate", url=argv[4])
    elif command == "screenshot":
        width = int(argv[5]) if len(argv) > 5 else 1366
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=800, deviceScaleFactor=1, mobile=False)
        metrics = page.call("Page.getLayoutMetrics")
        height = int(metrics.get("cssContentSize", metrics.get("contentSize"))["height"])
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        shot = page.call("Page.captureScreenshot", format="png")
        with open(argv[4], "wb") as file:
            file.write(base64.b64decode(shot["data"]))
        page.call("Emulation.clearDeviceMetricsOverride")
    else:
        raise SystemExit(f"cdp.py: unknown command {command}\n" + __doc__)


if __name__ == "__main__":
    main(sys.argv)
