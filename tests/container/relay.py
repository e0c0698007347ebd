#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
# A TCP relay on loopback that a test can pause, to cut one node off from
# Redis (tests/container/run-two.sh):
#
#   relay.py LISTEN_PORT TARGET_PORT PIDFILE
#
# SIGUSR1 pauses it: the listening socket is closed (connects are refused)
# and every relayed connection is dropped. SIGUSR2 listens again. Loopback
# only, both sides.
import os
import selectors
import signal
import socket
import sys

listen_port, target_port, pidfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sel = selectors.DefaultSelector()
listener = None
peers = {}  # socket -> its other end
want = "listen"


def start_listening():
    global listener
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", listen_port))
    listener.listen(64)
    sel.register(listener, selectors.EVENT_READ)


def drop(s):
    o = peers.pop(s, None)
    for x in (s, o):
        if x is None:
            continue
        peers.pop(x, None)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()


def pause():
    global listener
    if listener is not None:
        sel.unregister(listener)
        listener.close()
        listener = None
    for s in list(peers):
        if s in peers:
            drop(s)


def on_signal(signum, frame):
    global want
    want = "pause" if signum == signal.SIGUSR1 else "listen"


signal.signal(signal.SIGUSR1, on_signal)
signal.signal(signal.SIGUSR2, on_signal)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
start_listening()
with open(pidfile + ".tmp", "w") as f:
    f.write(f"{os.getpid()}\n")
os.rename(pidfile + ".tmp", pidfile)

while True:
    if want == "pause" and listener is not None:
        pause()
    elif want == "listen" and listener is None:
        start_listening()
    for key, _ in sel.select(timeout=0.1):
        s = key.fileobj
        if s is listener:
            c, _ = listener.accept()
            t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                t.connect(("127.0.0.1", target_port))
            except OSError:
                c.close()
                t.close()
                continue
            peers[c], peers[t] = t, c
            sel.register(c, selectors.EVENT_READ)
            sel.register(t, selectors.EVENT_READ)
        elif s in peers:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                drop(s)
                continue
            try:
                peers[s].sendall(data)
            except OSError:
                drop(s)
