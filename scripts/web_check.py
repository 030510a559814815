#!/usr/bin/env python3
"""Drives `blast --web`'s dashboard in headless Chromium over the DevTools protocol, as a
user would: opens the page, reads its request count twice a few seconds apart, presses
Stop, and waits for the report page to take the dashboard's place. Prints what it saw as
one JSON object (tests/live.rs judges it).

usage: web_check.py URL PROFILE_DIR
"""

import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request

import websocket  # websocket-client (scripts/requirements.txt)

BROWSER = "chromium-headless-shell"


def devtools_port(profile, deadline):
    path = os.path.join(profile, "DevToolsActivePort")
    while time.time() < deadline:
        try:
            with open(path) as f:
                return int(f.readline())
        except (OSError, ValueError):
            time.sleep(0.1)
    sys.exit("Chromium did not open its DevTools port")


class Page:
    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=10)
        self.ids = itertools.count(1)
        self.exceptions = []

    def call(self, method, **params):
        mine = next(self.ids)
        self.ws.send(json.dumps({"id": mine, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.exceptions.append(details.get("exception", {}).get("description", details.get("text")))
            if message.get("id") == mine:
                if "error" in message:
                    sys.exit(f"{method}: {message['error']}")
                return message["result"]

    def value(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                value = self.value(expression)
            except websocket.WebSocketTimeoutException:
                value = None
            if value:
                return value
            time.sleep(0.2)
        return None


def requests_shown(page):
    text = page.value("document.getElementById('requests') && document.getElementById('requests').textContent")
    return int(text.replace(",", "").replace("\u202f", "").replace(".", "")) if text else 0


def main():
    url, profile = sys.argv[1], sys.argv[2]
    browser = subprocess.Popen(
        [BROWSER, "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
         f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port = devtools_port(profile, time.time() + 30)
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        tab = next(t for t in targets if t["type"] == "page")
        page = Page(tab["webSocketDebuggerUrl"])
        page.call("Runtime.enable")
        page.call("Page.navigate", url=url)
        page.wait_for("document.getElementById('state') && "
                      "document.getElementById('state').textContent === 'running' && "
                      "document.getElementById('requests').textContent !== '0'", 15)
        before = requests_shown(page)
        time.sleep(3)
        after = requests_shown(page)
        charts = page.value("[...document.querySelectorAll('svg polyline')].length")
        page.value("document.getElementById('stop').click()")
        report = page.wait_for("document.querySelector('pre') !== null && "
                               "document.querySelector('pre').textContent.length", 30)
        print(json.dumps({
            "before": before,
            "after": after,
            "lines": charts,
            "report": bool(report),
            "title": page.value("document.title"),
            "exceptions": page.exceptions,
        }))
    finally:
        browser.kill()
        browser.wait()


if __name__ == "__main__":
    main()
