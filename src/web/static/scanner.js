// The door's scanner: reads ticket QR codes with the camera (the browser's BarcodeDetector, or
// the vendored jsQR, loaded only when that is missing), posts each code with the page's CSRF
// token, and shows the verdict full-screen for two seconds (colour, icon and word, a vibration
// where the phone has one). The typed-code form goes through the same path. The same code read
// again within three seconds is ignored, so a ticket held in front of the camera counts once.
(function () {
  "use strict";
  var root = document.getElementById("door");
  if (!root || !window.fetch || !window.URLSearchParams) return;
  var url = root.dataset.checkIn;
  var csrf = root.dataset.csrf;
  var jsqrUrl = root.dataset.jsqr;
  var form = document.getElementById("door-form");
  var input = document.getElementById("code");
  var slot = document.getElementById("door-result");
  var overlay = document.getElementById("door-overlay");
  var countIn = document.getElementById("count-in");
  var countSold = document.getElementById("count-sold");
  var toggle = document.getElementById("camera-toggle");
  var video = document.getElementById("door-video");
  var status = document.getElementById("camera-status");

  var ICONS = { valid: "\u2713", already: "!", invalid: "\u2717", wrong_event: "\u2717", error: "!" };
  var SHOW_MS = 2000;
  var REPEAT_MS = 3000;
  var last = { code: "", at: 0 };
  var sending = false;
  var hideTimer = 0;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = text;
    return node;
  }

  // The verdict's box: the same markup the server renders without scripts.
  function box(answer, alert) {
    var div = el("div", "door-result " + answer.result);
    if (alert) div.setAttribute("role", "alert");
    var word = el("p", "door-word");
    var icon = el("span", "door-icon", ICONS[answer.result] || "!");
    icon.setAttribute("aria-hidden", "true");
    word.appendChild(icon);
    word.appendChild(document.createTextNode(" " + answer.heading));
    div.appendChild(word);
    div.appendChild(el("p", "door-message", answer.message));
    if (answer.result === "already" && answer.reference) {
      div.appendChild(el("p", "door-message",
        [answer.ticketType, answer.customerName, answer.reference].join(" \u00b7 ")));
    }
    return div;
  }

  function hide() {
    overlay.hidden = true;
    overlay.textContent = "";
  }

  function show(answer) {
    slot.textContent = "";
    slot.appendChild(box(answer, true));
    // The overlay is for the eyes (the box above is what assistive technology announces).
    overlay.textContent = "";
    overlay.className = "door-overlay " + answer.result;
    overlay.appendChild(box(answer, false));
    overlay.hidden = false;
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hide, SHOW_MS);
    if (navigator.vibrate) {
      navigator.vibrate(answer.result === "valid" ? 150 : [90, 60, 90, 60, 90]);
    }
    if (answer.counts) {
      countIn.textContent = String(answer.counts.checkedIn);
      countSold.textContent = String(answer.counts.sold);
    }
  }

  function send(code) {
    var body = new URLSearchParams();
    body.set("csrf", csrf);
    body.set("code", code);
    return fetch(url, {
      method: "POST",
      headers: { Accept: "application/json" },
      body: body,
      credentials: "same-origin"
    }).then(function (r) {
      if ((r.headers.get("content-type") || "").indexOf("application/json") === 0) return r.json();
      if (r.redirected) {
        return { result: "error", heading: "Signed out", message: "Nothing was checked in. Reload the page and sign in again." };
      }
      if (r.status === 429) {
        return { result: "error", heading: "Too fast", message: "Nothing was checked in. Wait a moment, then scan again." };
      }
      return { result: "error", heading: "Not checked", message: "Nothing was checked in (error " + r.status + "). Try again." };
    }).catch(function () {
      return { result: "error", heading: "Not sent", message: "No answer from the server: check the connection, then scan again." };
    }).then(show);
  }

  overlay.addEventListener("click", hide);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape") hide();
  });

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var code = input.value.trim();
    if (!code || sending) return;
    sending = true;
    send(code).then(function () {
      sending = false;
      input.value = "";
      input.focus();
    });
  });

  // A code the camera read.
  function found(code) {
    var now = Date.now();
    var repeat = code === last.code && now - last.at < REPEAT_MS;
    last = { code: code, at: now };
    if (repeat || sending) return;
    sending = true;
    send(code).then(function () { sending = false; });
  }

  // Camera.
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    status.textContent = "This browser cannot use the camera here; type codes above.";
    return;
  }
  toggle.hidden = false;
  status.textContent = "Start the camera to scan QR codes, or type codes above.";
  var stream = null;
  var timer = 0;
  var canvas = null;

  function loadJsqr() {
    if (window.jsQR) return Promise.resolve();
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = jsqrUrl;
      s.onload = resolve;
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  // A function that reads a code from the video, if any: the native detector when it knows QR.
  function reader() {
    var native = window.BarcodeDetector && window.BarcodeDetector.getSupportedFormats
      ? window.BarcodeDetector.getSupportedFormats().then(function (formats) {
          return formats.indexOf("qr_code") >= 0;
        }).catch(function () { return false; })
      : Promise.resolve(false);
    return native.then(function (yes) {
      if (yes) {
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return function () {
          return detector.detect(video).then(function (codes) {
            return codes.length ? codes[0].rawValue : null;
          });
        };
      }
      return loadJsqr().then(function () {
        canvas = canvas || document.createElement("canvas");
        var context = canvas.getContext("2d", { willReadFrequently: true });
        return function () {
          var w = video.videoWidth;
          var h = video.videoHeight;
          if (!w || !h) return Promise.resolve(null);
          var scale = Math.min(1, 640 / Math.max(w, h));
          canvas.width = Math.round(w * scale);
          canvas.height = Math.round(h * scale);
          context.drawImage(video, 0, 0, canvas.width, canvas.height);
          var image = context.getImageData(0, 0, canvas.width, canvas.height);
          var code = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
          return Promise.resolve(code ? code.data : null);
        };
      });
    });
  }

  function stop() {
    clearTimeout(timer);
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
    video.srcObject = null;
    toggle.textContent = "Start the camera";
    status.textContent = "Camera off.";
  }

  function start() {
    status.textContent = "Starting the camera\u2026";
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
      .then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        toggle.textContent = "Stop the camera";
        return video.play().then(reader);
      })
      .then(function (read) {
        status.textContent = "Point the camera at a ticket's QR code.";
        (function tick() {
          if (!stream) return;
          read().then(function (code) {
            if (code) found(code.trim());
          }).catch(function () { /* a frame that could not be read */ })
            .then(function () { if (stream) timer = setTimeout(tick, 200); });
        })();
      })
      .catch(function () {
        stop();
        status.textContent = "The camera could not start (no permission, or none here). Type codes above.";
      });
  }

  toggle.addEventListener("click", function () {
    if (stream) stop(); else start();
  });
  window.addEventListener("pagehide", stop);
})();
