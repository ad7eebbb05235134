#!/usr/bin/env python3
"""The buyers of scripts/crash-test: guest holds, test-gateway payments (the checkout page's Pay,
which goes through the signed-webhook path), declines, cancellations and abandoned holds, until a
stop file appears, across server kills. Standard library only.

Every write that can be cut by a kill is asked again: bookings and payment starts with their
Idempotency-Key, a cancellation or a Pay as is (both are safe to repeat). A booking counts as
"seen confirmed" only when a 2xx answer said so: the checkout's "Payment received" page, or the
booking read back as CONFIRMED with its tickets.

Usage: crash_client.py load BASE EVENT TYPE[,TYPE…] WORKERS STOP_FILE OUT_DIR
Writes OUT_DIR/booked.txt (booking id and guest token a line), OUT_DIR/confirmed.txt (booking
ids) and prints one JSON line of figures.
       crash_client.py release BASE OUT_DIR
Cancels every booking of booked.txt still PENDING (the end of the load: nothing changes after)."""

import http.client
import json
import os
import random
import re
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

AGENT = {"user-agent": "ticketmax-crash-test"}
# Long enough to outlast a restart of the debug binary.
PATIENCE_SECONDS = 30


class GaveUp(Exception):
    """The server did not answer within PATIENCE_SECONDS."""


def request(base, method, path, body=None, headers=None, form=None):
    """One request on a new connection: (status, body bytes, headers)."""
    u = urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=15)
    try:
        h = dict(AGENT)
        data = None
        if body is not None:
            data = json.dumps(body)
            h["content-type"] = "application/json"
        elif form is not None:
            data = urlencode(form)
            h["content-type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def patiently(base, method, path, **kw):
    """Asks until an answer below 500 that is not IDEMPOTENCY_IN_FLIGHT arrives (a kill cuts
    connections; a restarting server refuses them): (status, body bytes, headers, retries)."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    retries = 0
    while True:
        try:
            status, raw, headers = request(base, method, path, **kw)
            if status < 500 and b"IDEMPOTENCY_IN_FLIGHT" not in raw:
                return status, raw, headers, retries
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            raise GaveUp(f"{method} {path}")
        retries += 1
        time.sleep(min(0.1 * retries, 1.0))


def data_of(raw):
    try:
        return json.loads(raw)["data"]
    except (ValueError, KeyError, TypeError):
        return None


class Buyers:
    def __init__(self, base, event, types):
        self.base, self.event, self.types = base, event, types
        self.lock = threading.Lock()
        self.figures = {"holds": 0, "soldOut": 0, "paid": 0, "declined": 0, "cancelled": 0,
                        "abandoned": 0, "retries": 0, "gaveUp": 0, "unexpected": {}}
        self.booked, self.confirmed = [], []

    def pick_type(self):
        """Mostly the large type; the small one (listed last) one time in ten, so it sells out
        and its seats come back as holds lapse or are cancelled."""
        if len(self.types) > 1 and random.random() < 0.1:
            return self.types[-1]
        return self.types[0]

    def count(self, key, n=1):
        with self.lock:
            self.figures[key] += n

    def unexpected(self, what, status):
        with self.lock:
            k = f"{what} {status}"
            self.figures["unexpected"][k] = self.figures["unexpected"].get(k, 0) + 1

    def ask(self, method, path, **kw):
        status, raw, headers, retries = patiently(self.base, method, path, **kw)
        if retries:
            self.count("retries", retries)
        return status, raw, headers

    def one(self, n):
        key = str(uuid.uuid4())
        body = {"eventId": self.event, "ticketTypeId": self.pick_type(),
                "quantity": random.randint(1, 3),
                "customerEmail": f"crash-{n}-{key[:8]}@example.com", "customerName": "Crash Buyer"}
        status, raw, _ = self.ask("POST", "/api/bookings/guest", body=body,
                                  headers={"idempotency-key": key})
        if status == 409:
            self.count("soldOut")
            return
        booking = data_of(raw)
        if status != 201 or not booking:
            self.unexpected("hold", status)
            return
        bid, auth = booking["id"], {"authorization": f"Bearer {booking['guestToken']}"}
        with self.lock:
            self.figures["holds"] += 1
            self.booked.append((bid, booking["guestToken"]))
        roll = random.random()
        if roll < 0.15:
            status, _, _ = self.ask("POST", f"/api/bookings/{bid}/cancel", body={}, headers=auth)
            # A repeat after a lost answer finds it CANCELLED already (409).
            self.count("cancelled") if status in (200, 409) else self.unexpected("cancel", status)
            return
        if roll < 0.30:
            self.count("abandoned")
            return
        self.pay(bid, auth, decline=roll < 0.38)

    def pay(self, bid, auth, decline):
        status, raw, _ = self.ask("POST", "/api/payments/initiate",
                                  body={"bookingId": bid, "gateway": "test"},
                                  headers=dict(auth, **{"idempotency-key": str(uuid.uuid4())}))
        started = data_of(raw)
        if status not in (200, 201) or not started:
            # 410: the hold lapsed while the server was down.
            self.unexpected("initiate", status) if status != 410 else self.count("abandoned")
            return
        path = urlsplit(started["authorizationUrl"]).path
        status, raw, headers = self.ask("GET", path)
        token = re.search(rb'name="csrf" value="([0-9a-f]+)"', raw)
        if status != 200 or not token:
            self.unexpected("checkout page", status)
            return
        cookie = headers.get("set-cookie", "").split(";")[0]
        status, raw, _ = self.ask("POST", path, headers={"cookie": cookie},
                                  form={"action": "decline" if decline else "pay",
                                        "csrf": token.group(1).decode()})
        if decline:
            self.count("declined")
            return
        if status == 200 and b"Payment received" in raw:
            self.seen_confirmed(bid)
        # The Pay's answer may have been cut: the booking read back says what happened.
        status, raw, _ = self.ask("GET", f"/api/bookings/{bid}", headers=auth)
        booking = data_of(raw)
        if status == 200 and booking and booking["status"] == "CONFIRMED" \
                and len(booking.get("tickets") or []) == booking["quantity"]:
            self.seen_confirmed(bid)

    def seen_confirmed(self, bid):
        with self.lock:
            if bid not in self.confirmed:
                self.confirmed.append(bid)
                self.figures["paid"] += 1

    def worker(self, w, stop_file):
        n = 0
        while not os.path.exists(stop_file):
            n += 1
            try:
                self.one(f"{w}-{n}")
            except GaveUp as e:
                self.count("gaveUp")
                print(f"gave up on {e}", file=sys.stderr)


def load(base, event, types, workers, stop_file, out_dir):
    buyers = Buyers(base, event, types.split(","))
    threads = [threading.Thread(target=buyers.worker, args=(w, stop_file)) for w in range(workers)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    buyers.figures["seconds"] = round(time.monotonic() - started, 1)
    with open(os.path.join(out_dir, "booked.txt"), "w") as f:
        f.writelines(f"{i} {t}\n" for i, t in buyers.booked)
    with open(os.path.join(out_dir, "confirmed.txt"), "w") as f:
        f.writelines(f"{i}\n" for i in buyers.confirmed)
    print(json.dumps(buyers.figures))


def release(base, out_dir):
    """Cancels the load's bookings that are still PENDING."""
    with open(os.path.join(out_dir, "booked.txt")) as f:
        booked = [line.split() for line in f if line.strip()]

    def one(entry):
        bid, token = entry
        auth = {"authorization": f"Bearer {token}"}
        status, raw, _, _ = patiently(base, "GET", f"/api/bookings/{bid}", headers=auth)
        booking = data_of(raw)
        if status == 200 and booking and booking["status"] == "PENDING":
            status, _, _, _ = patiently(base, "POST", f"/api/bookings/{bid}/cancel", body={},
                                        headers=auth)
            return 1 if status == 200 else 0
        return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        released = sum(pool.map(one, booked))
    print(json.dumps({"released": released}))


if __name__ == "__main__":
    mode, a = sys.argv[1], sys.argv[2:]
    if mode == "load":
        load(a[0], a[1], a[2], int(a[3]), a[4], a[5])
    elif mode == "release":
        release(a[0], a[1])
    else:
        sys.exit(f"unknown mode {mode}")
