#!/usr/bin/env python3
"""The checks of scripts/crash-test, read from the database with SQL: python3's sqlite3 module
for SQLite, psql for PostgreSQL. Standard library only.

Usage: crash_check.py live|final sqlite|postgres DATABASE OUT_DIR [MAIL_DIR]
  live   while the server runs, after the load stopped: no hold stuck past its expiry, and the
         counters equal the rows (each check is one statement: one snapshot).
  final  with the server stopped after the outbox drained: the counters again, every booking the
         client saw confirmed is CONFIRMED with its tickets, and every outbox message was
         delivered once (see scripts/crash-test for what "once" means).
Prints one line per check and the figures; exits 1 when a check fails."""

import datetime
import json
import os
import sqlite3
import subprocess
import sys

# The sweeper runs about every second: a hold lapsed for longer than this is stuck.
SWEEP_GRACE_SECONDS = 3


class Db:
    def __init__(self, backend, target):
        self.pg = backend == "postgres"
        self.target = target
        self.conn = None if self.pg else sqlite3.connect(f"file:{target}?mode=ro", uri=True)

    def rows(self, sql):
        if not self.pg:
            return [tuple(r) for r in self.conn.execute(sql).fetchall()]
        out = subprocess.run(["psql", self.target, "-X", "-At", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                              "-c", sql], check=True, capture_output=True, text=True).stdout
        return [tuple(line.split("\x1f")) for line in out.splitlines() if line]

    def one(self, sql):
        return int(self.rows(sql)[0][0])

    def id(self, column):
        """A uuid column as 32 lower-case hex digits."""
        return f"replace({column}::text, '-', '')" if self.pg else f"lower(hex({column}))"

    def utc_text(self, column):
        """A timestamp column as ISO 8601 text in UTC."""
        if self.pg:
            return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
        return column


def parse_time(text):
    text = text.replace("Z", "+00:00")
    if "." in text:
        head, tail = text.split(".", 1)
        digits = "".join(c for c in tail if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    at = datetime.datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=datetime.timezone.utc)


class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, what, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"   ok: {what}")
        else:
            self.failed.append(what)
            print(f"   FAILED: {what}{': ' + detail if detail else ''}")


def counters(db, c):
    """Ticket types, events and the dashboard's counter tables against a recomputation."""
    # An event's own counters are kept only under a `totalTickets` cap (docs/ARCHITECTURE.md).
    for table, key, scope in (("ticket_types", "ticket_type_id", "TRUE"),
                              ("events", "event_id", "t.total_tickets IS NOT NULL")):
        wrong = db.rows(
            f"""SELECT {db.id('t.id')}, t.sold, t.held,
                       (SELECT coalesce(sum(b.quantity), 0) FROM bookings b
                         WHERE b.{key} = t.id AND b.status = 'CONFIRMED'),
                       (SELECT coalesce(sum(b.quantity), 0) FROM bookings b
                         WHERE b.{key} = t.id AND b.status = 'PENDING')
                FROM {table} t
                WHERE {scope}
                  AND (t.sold <> (SELECT coalesce(sum(b.quantity), 0) FROM bookings b
                                   WHERE b.{key} = t.id AND b.status = 'CONFIRMED')
                    OR t.held <> (SELECT coalesce(sum(b.quantity), 0) FROM bookings b
                                   WHERE b.{key} = t.id AND b.status = 'PENDING'))""")
        checked = db.one(f"SELECT count(*) FROM {table} t WHERE {scope}")
        c.check(f"{table} ({checked}): sold = seats CONFIRMED, held = seats PENDING", not wrong,
                f"(id, sold, held, confirmed seats, pending seats) {wrong[:5]}")

    # The recomputation of tests/api/fixtures.rs `assert_dashboard_counters`.
    if db.pg:
        day = "to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        stored_day = "to_char(day, 'YYYY-MM-DD')"
        customer = "COALESCE('u:' || b.user_id::text, 'g:' || lower(b.customer_email))"
        zero = "'00000000-0000-0000-0000-000000000000'::uuid"
    else:
        day = "substr(created_at, 1, 10)"
        stored_day = "day"
        customer = "COALESCE('u:' || lower(hex(b.user_id)), 'g:' || lower(b.customer_email))"
        zero = "zeroblob(16)"
    expected_days = f"""
        SELECT event_id, {day} AS day, currency, COUNT(*) AS created, COUNT(confirmed_at) AS orders,
               CAST(COALESCE(SUM(CASE WHEN status = 'CONFIRMED' THEN quantity ELSE 0 END), 0) AS BIGINT) AS tickets,
               CAST(COALESCE(SUM(CASE WHEN confirmed_at IS NOT NULL THEN total_amount - COALESCE(refund_amount, 0) ELSE 0 END), 0) AS BIGINT) AS revenue,
               COUNT(CASE WHEN refund_amount > 0 THEN 1 END) AS refunded_bookings,
               CAST(COALESCE(SUM(refund_amount), 0) AS BIGINT) AS refunded
        FROM bookings GROUP BY 1, 2, 3"""
    # A day whose bookings all went keeps a row of zeros.
    stored_days = f"""
        SELECT event_id, {stored_day} AS day, currency, CAST(created AS BIGINT), CAST(orders AS BIGINT),
               CAST(tickets AS BIGINT), CAST(revenue AS BIGINT), CAST(refunded_bookings AS BIGINT),
               CAST(refunded AS BIGINT)
        FROM booking_days
        WHERE created <> 0 OR orders <> 0 OR tickets <> 0 OR revenue <> 0
           OR refunded_bookings <> 0 OR refunded <> 0"""
    differ = db.one(f"""SELECT count(*) FROM (
        SELECT * FROM ({expected_days}) e EXCEPT SELECT * FROM ({stored_days}) s
        UNION ALL
        SELECT * FROM (SELECT * FROM ({stored_days}) s EXCEPT SELECT * FROM ({expected_days}) e) x) d""")
    c.check("booking_days = the bookings added up by day", differ == 0, f"{differ} rows differ")
    top_two = f"""
        SELECT scope_id, customer, MAX(CASE WHEN n = 1 THEN created_at END) AS last_at,
               MAX(CASE WHEN n = 2 THEN created_at END) AS prev_at
        FROM (SELECT scope_id, customer, created_at,
                     ROW_NUMBER() OVER (PARTITION BY scope_id, customer ORDER BY created_at DESC) AS n
              FROM (SELECT e.organizer_id AS scope_id, {customer} AS customer, b.created_at
                    FROM bookings b JOIN events e ON e.id = b.event_id WHERE b.confirmed_at IS NOT NULL
                    UNION ALL
                    SELECT {zero}, {customer}, b.created_at FROM bookings b
                    WHERE b.confirmed_at IS NOT NULL) o) r
        WHERE n <= 2 GROUP BY scope_id, customer"""
    stored = "SELECT scope_id, customer, last_at, prev_at FROM customer_orders"
    differ = db.one(f"""SELECT count(*) FROM (
        SELECT * FROM ({top_two}) e EXCEPT SELECT * FROM ({stored}) s
        UNION ALL
        SELECT * FROM (SELECT * FROM ({stored}) s EXCEPT SELECT * FROM ({top_two}) e) x) d""")
    c.check("customer_orders = each customer's two latest orders", differ == 0,
            f"{differ} rows differ")


def stuck_holds(db, c, now):
    pending = db.rows(f"SELECT {db.id('id')}, {db.utc_text('expires_at')} FROM bookings "
                      "WHERE status = 'PENDING'")
    cutoff = now - datetime.timedelta(seconds=SWEEP_GRACE_SECONDS)
    stuck = [b for b, at in pending if at and parse_time(at) < cutoff]
    c.check(f"no hold stuck: no PENDING booking lapsed more than {SWEEP_GRACE_SECONDS} s ago "
            f"({len(pending)} pending)", not stuck, f"{len(stuck)} stuck, e.g. {stuck[:3]}")
    # Otherwise the check above proved nothing: the run must outlast a hold.
    swept = db.one("SELECT count(*) FROM bookings WHERE status = 'EXPIRED'")
    c.check(f"holds lapsed during the run and were released ({swept} EXPIRED)", swept > 0)


def confirmed_kept(db, c, out_dir):
    with open(os.path.join(out_dir, "confirmed.txt")) as f:
        seen = [line.strip().replace("-", "") for line in f if line.strip()]
    rows = {r[0]: r[1:] for r in db.rows(
        f"""SELECT {db.id('b.id')}, b.status, b.quantity,
                   (SELECT count(*) FROM tickets t WHERE t.booking_id = b.id)
            FROM bookings b""")}
    lost = [b for b in seen if b not in rows or rows[b][0] != "CONFIRMED"
            or int(rows[b][1]) != int(rows[b][2])]
    c.check(f"no confirmed booking lost: the {len(seen)} the client saw confirmed are CONFIRMED "
            "with one ticket a seat", not lost,
            "; ".join(f"{b}: {rows.get(b)}" for b in lost[:5]))
    wrong = [b for b, (status, qty, tickets) in rows.items()
             if status == "CONFIRMED" and int(qty) != int(tickets)]
    c.check("every CONFIRMED booking has one ticket a seat", not wrong, f"{wrong[:5]}")


def outbox(db, c, mail_dir):
    statuses = dict(db.rows("SELECT status, count(*) FROM outbox GROUP BY status"))
    undelivered = {s: n for s, n in statuses.items() if s != "SENT"}
    c.check("the outbox drained: every message SENT", not undelivered, f"{undelivered}")
    sent = {r[0] for r in db.rows(f"SELECT {db.id('id')} FROM outbox "
                                  "WHERE channel = 'email' AND status = 'SENT'")}
    files = [n for n in os.listdir(mail_dir) if n.endswith(".eml")]
    delivered = {n[:-4] for n in files}
    c.check(f"each SENT email is one delivered file ({len(sent)} sent, {len(files)} files)",
            sent == delivered,
            f"sent without a file {sorted(sent - delivered)[:3]}, "
            f"files without a SENT message {sorted(delivered - sent)[:3]}")
    twice = db.rows("SELECT recipient, template, count(*) FROM outbox "
                    "GROUP BY recipient, template HAVING count(*) > 1")
    c.check("no message written twice (one per recipient and template: each buyer has an "
            "address of its own)", not twice, f"{twice[:5]}")
    unannounced = db.one(
        """SELECT count(*) FROM bookings b WHERE b.status = 'CONFIRMED' AND NOT EXISTS
           (SELECT 1 FROM outbox o WHERE o.recipient = b.customer_email
              AND o.template = 'booking_confirmed' AND o.status = 'SENT')""")
    c.check("every CONFIRMED booking's confirmation was delivered", unannounced == 0,
            f"{unannounced} without")
    return len(sent)


def main(phase, backend, target, out_dir, mail_dir=None):
    db = Db(backend, target)
    c = Checks()
    figures = {"bookings": db.one("SELECT count(*) FROM bookings")}
    for status in ("PENDING", "CONFIRMED", "CANCELLED", "EXPIRED", "REFUNDED"):
        figures[status.lower()] = db.one(f"SELECT count(*) FROM bookings WHERE status = '{status}'")
    figures["paymentsSucceeded"] = db.one("SELECT count(*) FROM payments WHERE status = 'SUCCESS'")
    if phase == "live":
        stuck_holds(db, c, datetime.datetime.now(datetime.timezone.utc))
        counters(db, c)
    else:
        counters(db, c)
        confirmed_kept(db, c, out_dir)
        figures["emailsSent"] = outbox(db, c, mail_dir)
    print(f"   {phase} figures: {json.dumps(figures)}")
    print(f"   {phase}: {c.passed} checks passed, {len(c.failed)} failed")
    sys.exit(1 if c.failed else 0)


if __name__ == "__main__":
    main(*sys.argv[1:])
