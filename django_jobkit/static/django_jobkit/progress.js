/* Live progress bars: every element marked data-jobkit-job follows its job on the events
   stream named by data-jobkit-events, one EventSource per stream URL for the whole page.
   The stream sends {uuid, status, progress, message, final, output, output_from} when a job
   changes, ends itself (the browser reconnects) and sends an "end" event once every job is
   final. `output` holds the items the job emitted from index `output_from` on; an element
   with class jobkit-output inside the progress element lists them, one per line (a
   reconnected stream starts again from 0, so items past output_from are replaced). */
(function () {
  "use strict";

  var MAX_JOBS = 200; /* what one stream follows at most (events/states.py) */

  function percent(fraction) {
    return Math.round(fraction * 100) + "%";
  }

  function show(element, state) {
    var bar = element.querySelector("progress");
    var text = element.querySelector(".jobkit-progress-text");
    if (bar) {
      if (state.progress === null) {
        if (state.final && state.status === "SUCCESSFUL") bar.value = 1;
        else if (!state.final) bar.removeAttribute("value");
      } else {
        bar.value = state.progress;
      }
      bar.textContent = state.progress === null ? "" : percent(state.progress);
    }
    var parts = [];
    if (state.progress !== null) parts.push(percent(state.progress));
    if (state.message) parts.push(state.message);
    if (state.final || state.status === "waiting") parts.push(state.status);
    if (text) text.textContent = parts.join(" ");
    element.setAttribute("data-jobkit-status", state.status);
    var list = element.querySelector(".jobkit-output");
    if (list && state.output) {
      while (list.children.length > state.output_from) list.removeChild(list.lastChild);
      state.output.forEach(function (item) {
        var line = document.createElement("li");
        line.textContent = itemText(item);
        list.appendChild(line);
      });
    }
  }

  function itemText(item) {
    if (typeof item === "string") return item;
    if (item && typeof item.text === "string") return item.text;
    return JSON.stringify(item);
  }

  function follow(url, elements) {
    var byJob = {};
    elements.forEach(function (element) {
      var job = element.getAttribute("data-jobkit-job");
      (byJob[job] = byJob[job] || []).push(element);
    });
    var jobs = Object.keys(byJob);
    for (var start = 0; start < jobs.length; start += MAX_JOBS) {
      var query = "jobs=" + jobs.slice(start, start + MAX_JOBS).join(",");
      var source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + query);
      source.onmessage = function (event) {
        var state = JSON.parse(event.data);
        (byJob[state.uuid] || []).forEach(function (element) {
          show(element, state);
        });
      };
      source.addEventListener("end", function (event) {
        event.target.close(); /* every job is final: no reconnecting */
      });
    }
  }

  function start() {
    var streams = {};
    document.querySelectorAll("[data-jobkit-job][data-jobkit-events]").forEach(function (el) {
      var url = el.getAttribute("data-jobkit-events");
      (streams[url] = streams[url] || []).push(el);
    });
    Object.keys(streams).forEach(function (url) {
      follow(url, streams[url]);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
