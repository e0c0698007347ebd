#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for an xcomponent-ai 0.6.0 `serve` process on Redis, for the
tests of xfsm-redis-bridge's XcomponentCompat= (xfsm-redis-bridge(8),
XCOMPONENT-AI COMPATIBILITY). xcomponent-ai itself is a Node project the
test suite cannot run; this peer speaks exactly its wire format, with
nothing but the standard library (RESP over a socket, to 127.0.0.1 only):

  cascade PORT --source S --target C --machine M [--state T] --event E
          [--payload JSON] [--context JSON] [--rules JSON]
      Publish on xcomponent:C what xcomponent-ai publishes for a state's
      cascadingRule: {"sourceComponent","targetComponent","targetMachine",
      "targetState","event":{"type","payload","timestamp"},"filters"} in
      that key order, as JSON.stringify writes it; "targetState" "*" when
      the rule has none; "filters" only when the rule has matchingRules,
      each {"property": instanceProperty, "operator": operator or "===",
      "value": payload[eventProperty] ?? context[eventProperty]} with
      "value" left out when that is undefined.
  raw PORT CHANNEL [TEXT]
      Publish TEXT (or stdin) as it is: garbage, or hand-made messages.
  listen PORT CHANNEL OUT
      Subscribe and append each message to OUT, one per line (after a line
      "READY" once subscribed); a message that is not exactly of
      xcomponent-ai's form gets a line "BAD <why>" after it.
"""

import json
import socket
import sys
import time


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.s.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def exact(self, n):
        while len(self.buf) < n + 2:
            data = self.s.recv(65536)
            if not data:
                raise EOFError
            self.buf += data
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-"):
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.exact(n)
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise ValueError(line)

    def command(self, *args):
        self.s.sendall(resp(*args))
        return self.reply()


def stringify(value):
    # JSON.stringify: no spaces, non-ASCII as it is, "/" not escaped
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def cascade(argv):
    opts = {"--state": None, "--payload": "{}", "--context": "{}", "--rules": "[]"}
    port = int(argv[0])
    i = 1
    while i < len(argv):
        opts[argv[i]] = argv[i + 1]
        i += 2
    payload = json.loads(opts["--payload"])
    context = json.loads(opts["--context"])
    rules = json.loads(opts["--rules"])
    message = {
        "sourceComponent": opts["--source"],
        "targetComponent": opts["--target"],
        "targetMachine": opts["--machine"],
        "targetState": opts["--state"] or "*",
        "event": {"type": opts["--event"], "payload": payload, "timestamp": int(time.time() * 1000)},
    }
    if rules:
        filters = []
        for r in rules:
            f = {"property": r["instanceProperty"], "operator": r.get("operator") or "==="}
            # payload[eventProperty] ?? sourceContext[eventProperty]
            v = payload.get(r["eventProperty"])
            if v is None:
                v = context.get(r["eventProperty"], ...)
            if v is not ...:
                f["value"] = v
            filters.append(f)
        message["filters"] = filters
    n = Conn(port).command("PUBLISH", "xcomponent:" + opts["--target"], stringify(message))
    print(n)


def raw(argv):
    port, channel = int(argv[0]), argv[1]
    text = argv[2].encode() if len(argv) > 2 else sys.stdin.buffer.read()
    print(Conn(port).command("PUBLISH", channel, text))


KEYS = ["sourceComponent", "targetComponent", "targetMachine", "targetState", "event", "filters"]


def check(text):
    """Why text is not a message as xcomponent-ai writes it, or None."""
    try:
        m = json.loads(text)
    except ValueError:
        return "not JSON"
    if not isinstance(m, dict):
        return "not an object"
    keys = list(m)
    if keys != KEYS[: len(keys)] or len(keys) < 5:
        return "keys %s" % keys
    for k in KEYS[:4]:
        if not isinstance(m[k], str):
            return "%s not a string" % k
    ev = m["event"]
    if not isinstance(ev, dict) or list(ev) not in (["type", "payload", "timestamp"], ["type", "payload"]):
        return "event keys %s" % (list(ev) if isinstance(ev, dict) else ev)
    if not isinstance(ev["payload"], dict) or not isinstance(ev.get("timestamp", 0), int):
        return "event types"
    if "filters" in m:
        if not isinstance(m["filters"], list) or not m["filters"]:
            return "filters null or empty"
        for f in m["filters"]:
            if list(f) not in (["property", "operator", "value"], ["property", "operator"]):
                return "filter keys %s" % list(f)
    if stringify(m) != text:
        return "not as JSON.stringify writes it"
    return None


def listen(argv):
    port, channel, out = int(argv[0]), argv[1], argv[2]
    c = Conn(port)
    c.s.sendall(resp("SUBSCRIBE", channel))
    c.reply()
    with open(out, "a", encoding="utf-8") as f:
        f.write("READY\n")
        f.flush()
        while True:
            kind, _, data = c.reply()
            if kind != b"message":
                continue
            try:
                text = data.decode("utf-8")
                why = check(text)
            except UnicodeDecodeError:
                # garbage the tests publish: noted, never fatal to the listener
                text, why = data.decode("utf-8", errors="replace"), "not UTF-8"
            f.write(text.replace("\n", " ") + "\n")
            if why:
                f.write("BAD %s\n" % why)
            f.flush()


def main():
    cmd, argv = sys.argv[1], sys.argv[2:]
    {"cascade": cascade, "raw": raw, "listen": listen}[cmd](argv)


if __name__ == "__main__":
    try:
        main()
    except (EOFError, KeyboardInterrupt, BrokenPipeError):
        pass
