#!/usr/bin/env python3
"""Packet-level delay line: netem's `delay X Y` for kernels without netem.

Runs inside the shaper namespace (sr-<id>-mid). Policy routing there sends every
packet forwarded between the two veths into the TUN device; this process holds
each packet for delay +- jitter and writes it back, and the kernel routes it on
(through tbf and out). Because the hold happens BEFORE either TCP endpoint sees
the packet, TCP measures the real round trip and loss recovery takes as long as
on a real long path - which a userspace TCP proxy cannot give (DESIGN section 5).

Order is kept per direction (a packet never leaves before the one ahead of it),
as on a radio bearer; netem would reorder when jitter exceeds the packet gap.

Python, not TypeScript: attaching to a TUN device needs the TUNSETIFF ioctl,
which Node cannot issue without a native addon. Standard library only.

usage: delayline.py <tun-dev> <client-ip> <down-ms> <up-ms> <jitter-ms>
Prints "ready" once attached. Exits on SIGTERM/SIGINT.
"""
import collections
import fcntl
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
MAX_PACKET = 65536


def main() -> None:
    dev, client_ip, down_ms, up_ms, jitter_ms = sys.argv[1:6]
    client = socket.inet_aton(client_ip)
    delay = {"down": float(down_ms) / 1000, "up": float(up_ms) / 1000}
    jitter = float(jitter_ms) / 1000

    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", dev.encode(), IFF_TUN | IFF_NO_PI))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)

    queues = {"down": collections.deque(), "up": collections.deque()}
    last_due = {"down": 0.0, "up": 0.0}
    while True:
        now = time.monotonic()
        heads = [q[0][0] for q in queues.values() if q]
        timeout = max(0.0, min(heads) - now) if heads else None
        readable, _, _ = select.select([fd], [], [], timeout)
        now = time.monotonic()
        if readable:
            while True:
                try:
                    pkt = os.read(fd, MAX_PACKET)
                except BlockingIOError:
                    break
                # IPv4 destination at bytes 16..20 decides the direction.
                d = "down" if pkt[16:20] == client else "up"
                hold = delay[d] + (random.uniform(-jitter, jitter) if jitter else 0.0)
                due = max(now + max(0.0, hold), last_due[d])
                last_due[d] = due
                queues[d].append((due, pkt))
        for q in queues.values():
            while q and q[0][0] <= now:
                os.write(fd, q.popleft()[1])


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
