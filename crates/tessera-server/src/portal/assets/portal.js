// The portal's only script: keeps the token activity view live. Without it every page works;
// with it, the timeline's "now" line moves and new activity appears without reloading.
"use strict";
(function () {
  const live = document.getElementById("activity-live");
  if (!live) return;
  const source = live.getAttribute("data-source");

  // Moves the "now" line (and greys bars that expired) every second, from the server's
  // scale: data-start/data-end (unix seconds) over data-x0..data-x1 (SVG units).
  function tick() {
    const svg = live.querySelector("svg.timeline");
    if (!svg) return;
    const start = Number(svg.dataset.start), end = Number(svg.dataset.end);
    const x0 = Number(svg.dataset.x0), x1 = Number(svg.dataset.x1);
    const skew = Number(svg.dataset.now) - Number(svg.dataset.loaded);
    const now = Date.now() / 1000 + skew;
    const line = svg.querySelector("line.now");
    if (line && end > start) {
      const x = x0 + ((Math.min(Math.max(now, start), end) - start) / (end - start)) * (x1 - x0);
      line.setAttribute("x1", x.toFixed(1));
      line.setAttribute("x2", x.toFixed(1));
    }
    svg.querySelectorAll("rect.bar[data-expires]").forEach(function (bar) {
      if (Number(bar.dataset.expires) <= now) bar.classList.add("expired");
    });
  }

  let pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    fetch(source, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) {
        // The session ended (signed out, revoked, expired): the page itself signs in again.
        if (r.redirected) { window.location.reload(); throw new Error("redirected"); }
        if (!r.ok) throw new Error(String(r.status));
        return r.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        const svg = live.querySelector("svg.timeline");
        if (svg) svg.dataset.loaded = String(Date.now() / 1000);
        tick();
      })
      .catch(function () {})
      .finally(function () { pending = false; });
  }

  const first = live.querySelector("svg.timeline");
  if (first) first.dataset.loaded = String(Date.now() / 1000);
  setInterval(tick, 1000);
  tick();
  const stream = live.getAttribute("data-stream");
  if (stream && window.EventSource) {
    const events = new EventSource(stream);
    events.addEventListener("activity", refresh);
    events.onerror = function () {
      // The browser reconnects on its own; meanwhile refresh now and then.
      setTimeout(refresh, 5000);
    };
  } else {
    setInterval(refresh, 5000);
  }
  setInterval(refresh, 60000);
})();
