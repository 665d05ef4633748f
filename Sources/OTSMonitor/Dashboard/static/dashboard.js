// OTS dashboard: follows the monitor's event stream and redraws the page's
// live part (<main id="live">) when something happens. It reconnects by
// itself when the monitor goes away and comes back.
(function () {
  "use strict";
  var streamPath = document.body.getAttribute("data-stream");
  var statusLine = document.getElementById("live-status");
  if (!streamPath) return;

  // Every event type the monitor streams (docs/events.md). Heartbeats only
  // change "last heartbeat", which the periodic redraw covers.
  var types = [
    "testrun.requested", "testrun.queued", "testrun.started", "testrun.finished", "testrun.cancelled", "testrun.timed_out",
    "task.queued", "task.claimed", "task.started", "task.finished", "task.requeued", "task.timed_out",
    "device.flash.started", "device.flash.finished", "device.boot.started", "device.boot.finished",
    "test.package.started", "test.package.finished", "test.set.finished",
    "results.processing.started", "results.processing.finished", "results.stored", "test.flaky",
    "worker.online", "worker.busy", "worker.free", "worker.offline", "failure", "queue.dropped", "device.health.changed"
  ];
  var source = null;
  var pending = null;
  var drawing = false;
  var again = false;

  function say(text, state) {
    statusLine.textContent = text;
    statusLine.setAttribute("data-state", state);
  }

  function redraw() {
    pending = null;
    if (drawing) { again = true; return; }
    drawing = true;
    fetch(window.location.href, { headers: { "Accept": "text/html" }, cache: "no-store" })
      .then(function (response) {
        if (!response.ok && response.status >= 500) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
        var current = document.getElementById("live");
        if (next && current) {
          // What the reader opened or closed stays so.
          var opened = {};
          current.querySelectorAll("details[data-key]").forEach(function (d) { opened[d.getAttribute("data-key")] = d.open; });
          current.innerHTML = next.innerHTML;
          current.querySelectorAll("details[data-key]").forEach(function (d) {
            var key = d.getAttribute("data-key");
            if (Object.prototype.hasOwnProperty.call(opened, key)) d.open = opened[key];
          });
        }
        document.body.setAttribute("data-redrawn", String(Date.now()));
      })
      .catch(function () { say("reconnecting…", "down"); })
      .then(function () {
        drawing = false;
        if (again) { again = false; soon(0); }
      });
  }

  // Redraws at most every two seconds however many events arrive: each
  // redraw asks the monitor for its statistics again.
  var lastDraw = 0;
  function soon(delay) {
    if (pending !== null) return;
    var wait = Math.max(delay, lastDraw + 2000 - Date.now());
    pending = window.setTimeout(function () { lastDraw = Date.now(); redraw(); }, wait);
  }

  function connect() {
    var separator = streamPath.indexOf("?") >= 0 ? "&" : "?";
    source = new EventSource(streamPath + separator + "after=now");
    source.onopen = function () {
      say("live", "up");
      soon(0); // catch up on whatever happened while away
    };
    source.onerror = function () {
      say("reconnecting…", "down");
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        window.setTimeout(connect, 2000);
      }
    };
    types.forEach(function (type) {
      source.addEventListener(type, function () { soon(300); });
    });
  }

  window.setInterval(function () { soon(0); }, 10000);
  connect();
})();
