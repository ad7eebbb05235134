// The hold's countdown on the pay page: the time left until the held tickets go back on sale,
// read from the page's <time data-countdown datetime="…">. When it runs out, the page reloads
// and the server says what became of the booking.
(function () {
  "use strict";
  var el = document.querySelector("time[data-countdown]");
  if (!el) return;
  var end = Date.parse(el.getAttribute("datetime"));
  if (isNaN(end)) return;
  var label = el.parentNode;
  var live = document.createElement("span");
  live.className = "visually-hidden";
  live.setAttribute("aria-live", "polite");
  label.appendChild(live);
  var lastMinute = -1;

  function tick() {
    var left = Math.max(0, Math.round((end - Date.now()) / 1000));
    var m = Math.floor(left / 60);
    var s = left % 60;
    el.textContent = m + ":" + (s < 10 ? "0" : "") + s + " left";
    // Screen readers hear the minutes, not every second.
    if (m !== lastMinute) {
      lastMinute = m;
      live.textContent = left > 0 ? m + " minute" + (m === 1 ? "" : "s") + " left to pay" : "";
    }
    if (left === 0) {
      clearInterval(timer);
      live.textContent = "The hold has ended.";
      setTimeout(function () { window.location.reload(); }, 1500);
    }
  }
  var timer = setInterval(tick, 1000);
  tick();
})();
