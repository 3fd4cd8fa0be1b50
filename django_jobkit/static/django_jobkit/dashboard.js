// The dashboard refreshes its content in place: every few seconds it asks the same URL for
// ?fragment=1 (the content alone) and swaps it in. Nothing is asked while the tab is hidden;
// coming back to it refreshes at once. A failed request leaves the last content shown.
"use strict";
(function () {
  const box = document.getElementById("jobkit-dashboard");
  if (!box) return;
  const every = 1000 * (parseFloat(box.dataset.jobkitRefresh) || 10);
  let timer = null;
  let inFlight = false;

  function url() {
    const u = new URL(window.location.href);
    u.searchParams.set("fragment", "1");
    return u.toString();
  }

  async function refresh() {
    if (inFlight || document.hidden) return;
    inFlight = true;
    try {
      const response = await fetch(url(), {credentials: "same-origin", headers: {"Accept": "text/html"}});
      if (response.ok) {
        box.innerHTML = await response.text();
        box.dataset.jobkitRefreshed = String(Date.now());
      }
    } catch (error) {
      // Offline or the server restarting: try again at the next turn.
    } finally {
      inFlight = false;
    }
  }

  function start() {
    if (timer === null) timer = window.setInterval(refresh, every);
  }

  function stop() {
    if (timer !== null) window.clearInterval(timer);
    timer = null;
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      stop();
    } else {
      refresh();
      start();
    }
  });
  if (!document.hidden) start();
})();
