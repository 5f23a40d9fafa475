#ifndef RILL_EXAMPLE_SSE_CLOCK_PAGE_HPP
#define RILL_EXAMPLE_SSE_CLOCK_PAGE_HPP

// The page sse_clock serves at `/`: an EventSource on /events (with the page's own
// query, so `/?drop-after=3` makes every stream end after three ticks) that shows the
// ticking clock and lists what it received. The list is the test interface of
// tests/browser: one <li> per event, with its kind, lastEventId and data in data-*
// attributes, in arrival order.

#include <string_view>

namespace rill_example {

inline constexpr std::string_view kClockPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>rill sse_clock</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 2rem; }
  #clock { font: 600 3rem ui-monospace, monospace; }
  #state { color: #555; }
  #events { font: 0.85rem ui-monospace, monospace; color: #333; }
</style>
</head>
<body>
<h1 id="clock">--:--:--</h1>
<p id="state">connecting</p>
<ol id="events"></ol>
<script>
"use strict";
const clock = document.getElementById("clock");
const state = document.getElementById("state");
const list = document.getElementById("events");
const source = new EventSource("/events" + location.search);

function record(kind, id, data) {
  const item = document.createElement("li");
  item.className = kind;
  item.dataset.id = id;
  item.dataset.data = data;
  item.textContent = kind + (id ? " #" + id : "") + (data ? ": " + data.replace(/\n/g, " | ") : "");
  list.appendChild(item);
  // A page left open for days keeps a bounded list.
  while (list.children.length > 1000) list.removeChild(list.firstChild);
}

source.addEventListener("open", () => {
  state.textContent = "connected";
  record("open", "", "");
});
source.addEventListener("error", () => {
  // EventSource reconnects by itself (after the stream's retry time) unless it is CLOSED.
  state.textContent = source.readyState === EventSource.CLOSED ? "closed" : "reconnecting";
  record("error", "", String(source.readyState));
});
source.addEventListener("hello", (e) => record("hello", e.lastEventId, e.data));
source.addEventListener("tick", (e) => {
  clock.textContent = e.data;
  record("tick", e.lastEventId, e.data);
});
source.onmessage = (e) => record("message", e.lastEventId, e.data);
</script>
</body>
</html>
)html";

}  // namespace rill_example

#endif  // RILL_EXAMPLE_SSE_CLOCK_PAGE_HPP
