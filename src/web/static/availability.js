// Live availability on an event's page: the public availability stream
// (`/api/events/{id}/availability/stream`) sends the remaining seats of each ticket type
// whenever they change; each count on the page follows, and a type that runs out says so.
(function () {
  "use strict";
  var page = document.querySelector("[data-stream]");
  if (!page || !window.EventSource) return;
  var source = new EventSource(page.dataset.stream);
  source.addEventListener("availability", function (e) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    (data.ticketTypes || []).forEach(function (t) {
      var offer = page.querySelector('[data-type="' + t.id + '"]');
      if (!offer) return;
      var count = offer.querySelector("[data-available]");
      var left = offer.querySelector("[data-left]");
      var soldOut = offer.querySelector("[data-sold-out]");
      var form = offer.querySelector("form.buy");
      var none = t.available <= 0;
      if (count) count.textContent = String(t.available);
      // Seats can come back (an expired or cancelled hold): the page follows both ways.
      if (left) left.hidden = none;
      if (soldOut) soldOut.hidden = !none;
      if (form) {
        var quantity = form.querySelector('input[name="quantity"]');
        var button = form.querySelector("button");
        if (quantity && !none) {
          quantity.max = String(Math.min(Number(quantity.dataset.most || quantity.max), t.available));
        }
        if (button) button.disabled = none;
      }
    });
  });
})();
