#!/usr/bin/env python3
"""The clients of scripts/scale-test: buyers, a steady booking load, an SSE listener and a burst
of reads. Standard library only; each mode prints one JSON line of figures for the script to
check. Bookings carry an Idempotency-Key, so a booking whose answer was lost (a connection cut
by a restart, a 502) is asked again with the same key and never made twice."""

import http.client
import json
import os
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

RETRIES = 8
# An empty User-Agent puts a request under the auth rate tier (API.md §11.90).
AGENT = {"user-agent": "ticketmax-scale-test"}


def request(base, method, path, body=None, headers=None, timeout=30):
    """One request on a new connection: (status, parsed JSON body or None, headers)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        data = json.dumps(body) if body is not None else None
        h = dict(AGENT, **({"content-type": "application/json"} if data else {}))
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return r.status, parsed, dict(r.getheaders())
    finally:
        conn.close()


def book(base, event, ticket_type, n):
    """A guest booking of one ticket, retried with its key on a lost answer, a 5xx or a 409
    IDEMPOTENCY_IN_FLIGHT: (final status, booking id or None, retries)."""
    key = str(uuid.uuid4())
    body = {"eventId": event, "ticketTypeId": ticket_type, "quantity": 1,
            "customerEmail": f"buyer-{n}-{key[:8]}@example.com", "customerName": "Scale Buyer"}
    retries = 0
    while True:
        try:
            status, doc, _ = request(base, "POST", "/api/bookings/guest", body,
                                     {"idempotency-key": key})
            code = (doc or {}).get("error", {}).get("code") if status >= 400 else None
            if status < 500 and code != "IDEMPOTENCY_IN_FLIGHT":
                booking = doc["data"]["id"] if status in (200, 201) else None
                return status, booking, retries
        except (OSError, http.client.HTTPException):
            pass
        if retries == RETRIES:
            return 0, None, retries
        retries += 1
        time.sleep(0.2 * retries)


def buyers(base, event, ticket_type, count, ids_out):
    """`count` buyers at once (released together by a barrier), one ticket each."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def buyer(i):
        barrier.wait()
        results[i] = book(base, event, ticket_type, i)

    threads = [threading.Thread(target=buyer, args=(i,)) for i in range(count)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    statuses = {}
    for status, _, _ in results:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    with open(ids_out, "w") as f:
        f.writelines(f"{b}\n" for _, b, _ in results if b)
    print(json.dumps({"buyers": count, "statuses": statuses,
                      "retried": sum(1 for r in results if r[2]), "seconds": round(elapsed, 2)}))


def load(base, event, ticket_type, workers, stop_file, ids_out):
    """`workers` loops booking until `stop_file` exists."""
    lock = threading.Lock()
    totals = {"requests": 0, "booked": 0, "retried": 0, "failed": 0, "other": {}}
    ids = []

    def worker(w):
        n = 0
        while not os.path.exists(stop_file):
            n += 1
            status, booking, retries = book(base, event, ticket_type, f"{w}-{n}")
            with lock:
                totals["requests"] += 1
                totals["retried"] += 1 if retries else 0
                if booking:
                    totals["booked"] += 1
                    ids.append(booking)
                elif status == 0:
                    totals["failed"] += 1
                else:
                    totals["other"][str(status)] = totals["other"].get(str(status), 0) + 1

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    totals["seconds"] = round(time.monotonic() - started, 1)
    with open(ids_out, "w") as f:
        f.writelines(f"{b}\n" for b in ids)
    print(json.dumps(totals))


def sse(stream_base, event, book_base, ticket_type):
    """Listens to the event's availability stream on one instance, books on another, and waits
    for the stream to carry the change."""
    u = urlsplit(stream_base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    conn.request("GET", f"/api/events/{event}/availability/stream",
                 headers=dict(AGENT, accept="text/event-stream"))
    r = conn.getresponse()
    if r.status != 200:
        print(json.dumps({"received": False, "status": r.status}))
        return

    def next_event():
        kind, data = None, []
        while True:
            line = r.fp.readline().decode().rstrip("\n")
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif line == "" and data:
                return kind, "\n".join(data)

    _, first = next_event()
    booked_at = time.monotonic()
    status, _, _ = book(book_base, event, ticket_type, "sse")
    received = False
    try:
        while time.monotonic() - booked_at < 10:
            _, data = next_event()
            if data != first:
                received = True
                break
    except OSError:
        pass
    print(json.dumps({"received": received, "bookingStatus": status,
                      "ms": round((time.monotonic() - booked_at) * 1000)}))


def burst(base, path, count, client_ip):
    """`count` reads in a row as one client: how many were answered and how many limited."""
    statuses = {}
    started = time.monotonic()
    for _ in range(count):
        status, _, _ = request(base, "GET", path, headers={"x-forwarded-for": client_ip})
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    print(json.dumps({"statuses": statuses, "seconds": round(time.monotonic() - started, 2)}))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "buyers":
        buyers(args[0], args[1], args[2], int(args[3]), args[4])
    elif mode == "load":
        load(args[0], args[1], args[2], int(args[3]), args[4], args[5])
    elif mode == "sse":
        sse(args[0], args[1], args[2], args[3])
    elif mode == "burst":
        burst(args[0], args[1], int(args[2]), args[3])
    else:
        sys.exit(f"unknown mode {mode}")
