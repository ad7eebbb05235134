// Adds an event's new bookings to its bookings table as they happen: the page carries a
// single-use ticket for the dashboard's update stream; when the stream drops, a new ticket is
// asked for (with the page's CSRF token) and the stream reopened.
(function () {
  "use strict";
  var table = document.getElementById("bookings");
  var status = document.getElementById("live-status");
  if (!table || !window.EventSource || !window.fetch) return;
  var eventId = table.dataset.event;
  var body = table.tBodies[0];
  var seen = {};
  Array.prototype.forEach.call(body.rows, function (row) {
    var th = row.querySelector("th");
    if (th) seen[th.textContent.trim()] = true;
  });
  var retries = 0;

  function money(amount, currency) {
    try {
      var digits = new Intl.NumberFormat("en", { style: "currency", currency: currency }).resolvedOptions().maximumFractionDigits;
      return new Intl.NumberFormat("en", { style: "currency", currency: currency }).format(amount / Math.pow(10, digits));
    } catch (e) {
      return currency + " " + amount;
    }
  }

  function cell(tag, text) {
    var el = document.createElement(tag);
    el.textContent = text;
    return el;
  }

  function add(update) {
    if (update.eventId !== eventId) return;
    var existing = null;
    Array.prototype.forEach.call(body.rows, function (row) {
      var th = row.querySelector("th");
      if (th && th.textContent.trim() === update.reference) existing = row;
    });
    if (existing) {
      var badge = existing.querySelector(".badge");
      if (badge) { badge.textContent = update.status; badge.className = "badge " + update.status.toLowerCase(); }
      return;
    }
    if (seen[update.reference] || update.kind !== "booking.created") return;
    seen[update.reference] = true;
    var empty = body.querySelector("tr.empty");
    if (empty) empty.remove();
    var row = document.createElement("tr");
    row.className = "fresh";
    var th = cell("th", update.reference);
    th.scope = "row";
    row.appendChild(th);
    row.appendChild(cell("td", "New booking"));
    row.appendChild(cell("td", ""));
    row.appendChild(cell("td", String(update.quantity || "")));
    row.appendChild(cell("td", update.amount != null && update.currency ? money(update.amount, update.currency) : ""));
    var td = document.createElement("td");
    var badge = cell("span", update.status);
    badge.className = "badge " + update.status.toLowerCase();
    td.appendChild(badge);
    row.appendChild(td);
    row.appendChild(cell("td", new Date(update.at).toISOString().slice(0, 16).replace("T", " ") + " UTC"));
    body.insertBefore(row, body.firstChild);
    if (status) status.textContent = "New booking " + update.reference + ".";
  }

  function open(ticket) {
    var source = new EventSource("/api/dashboard/updates?ticket=" + encodeURIComponent(ticket));
    source.onopen = function () {
      retries = 0;
      if (status) status.textContent = "Live: new bookings appear here.";
    };
    ["booking.created", "booking.confirmed", "booking.cancelled", "booking.expired", "booking.refunded"].forEach(function (kind) {
      source.addEventListener(kind, function (e) { add(JSON.parse(e.data)); });
    });
    source.addEventListener("resync", function () {
      if (status) status.textContent = "Some updates were missed: reload the page for the full list.";
    });
    source.onerror = function () {
      source.close();
      if (retries++ > 5) {
        if (status) status.textContent = "Live updates stopped: reload the page.";
        return;
      }
      setTimeout(renew, 1000 * retries);
    };
  }

  function renew() {
    fetch("/admin/updates/ticket", {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": table.dataset.csrf },
    })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (t) { open(t.ticket); })
      .catch(function () { if (status) status.textContent = "Live updates stopped: reload the page."; });
  }

  open(table.dataset.liveTicket);
})();
