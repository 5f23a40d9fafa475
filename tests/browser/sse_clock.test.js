#!/usr/bin/env node
// The real-browser test of rill's Server-Sent Events: headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core) opens examples/sse_clock's page on
// 127.0.0.1, whose EventSource reads /events?drop-after=3. The server ends every
// stream after three ticks, so the browser must reconnect by itself and send back
// Last-Event-ID. Checked in the page (the list the page keeps of what EventSource
// dispatched) and on the server (its log of the Last-Event-ID each request carried):
//
//   - at least three ticks, in order, before the first drop; over the whole run the
//     tick ids are 1..N with no gap and no repeat, across at least three connections;
//   - each reconnect carried Last-Event-ID = the last id received (3, then 6), the
//     server logged it, and the greeting it sent back says so;
//   - Chromium read the greeting's CRLF, CR and LF line ends all as LF;
//   - the server exits 0 on SIGTERM afterwards.
//
// usage: node sse_clock.test.js --server PATH [--chromium PATH] [--node-modules DIR]
// A missing Chromium or playwright-core is a failure that says what to install, never a skip.

"use strict";

const { spawn } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");

const INTERVAL_MS = 100;
const DROP_AFTER = 3;
const WANT_TICKS = 3 * DROP_AFTER;  // three connections' worth
const DEADLINE_MS = 60000;          // the whole test, browser start included

function parseArgs(argv) {
  const args = { chromium: "/usr/bin/chromium", nodeModules: null, server: null };
  for (let i = 2; i < argv.length; i += 2) {
    const key = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${key} needs a value`);
    if (key === "--server") args.server = value;
    else if (key === "--chromium") args.chromium = value;
    else if (key === "--node-modules") args.nodeModules = value;
    else throw new Error(`unknown option ${key}`);
  }
  if (!args.server) throw new Error("--server PATH is required");
  return args;
}

class Failure extends Error {}

function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}

function loadPlaywright(nodeModules) {
  const where = nodeModules ? path.resolve(nodeModules, "playwright-core") : "playwright-core";
  try {
    return require(where);
  } catch (e) {
    throw new Failure(
      `playwright-core is missing (looked for ${where}): install it with ` +
        "`cp tests/browser/package*.json build/node/ && npm ci --prefix build/node` " +
        `or point -DRILL_PLAYWRIGHT_NODE_MODULES at a node_modules that has it (${e.code || e.message})`);
  }
}

function checkChromium(file) {
  try {
    fs.accessSync(file, fs.constants.X_OK);
  } catch (e) {
    throw new Failure(`Chromium is missing: ${file} is not an executable (${e.code}); ` +
                      "install it with `apt-get install chromium` or set -DRILL_CHROMIUM");
  }
}

// Starts the server and resolves with its URL once it printed its first line.
function startServer(file) {
  const proc = spawn(file, ["--port", "0", "--interval-ms", String(INTERVAL_MS), "--heartbeat-ms", "50"],
                     { stdio: ["ignore", "pipe", "inherit"] });
  const lines = [];
  let pending = "";
  proc.stdout.setEncoding("utf8");
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Failure("server printed nothing within 5 s")), 5000);
    proc.stdout.on("data", (text) => {
      pending += text;
      let nl;
      while ((nl = pending.indexOf("\n")) >= 0) {
        lines.push(pending.slice(0, nl));
        pending = pending.slice(nl + 1);
        if (lines.length === 1) {
          clearTimeout(timer);
          const m = /^listening on (http:\/\/127\.0\.0\.1:\d+\/)$/.exec(lines[0]);
          if (m) resolve(m[1]);
          else reject(new Failure(`unexpected first line ${JSON.stringify(lines[0])}`));
        }
      }
    });
    proc.on("exit", (code) => reject(new Failure(`server exited early (${code})`)));
  });
  return { proc, lines, ready };
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function readEvents(page) {
  return page.$$eval("#events li", (items) =>
    items.map((li) => ({ kind: li.className, id: li.dataset.id, data: li.dataset.data })));
}

async function run(args) {
  checkChromium(args.chromium);
  const { chromium } = loadPlaywright(args.nodeModules);

  const server = startServer(args.server);
  const base = await server.ready;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "rill-chromium-"));
  let context = null;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: args.chromium,
      headless: true,
      timeout: 30000,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--disable-quic"],
    });
    const page = context.pages()[0] || (await context.newPage());
    const pageErrors = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    await page.goto(`${base}?drop-after=${DROP_AFTER}`, { timeout: 10000 });

    // Bounded wait for three connections' worth of ticks.
    let events = [];
    const until = Date.now() + 20000;
    for (;;) {
      events = await readEvents(page);
      if (events.filter((e) => e.kind === "tick").length >= WANT_TICKS) break;
      check(Date.now() < until, `only ${events.filter((e) => e.kind === "tick").length} ticks after 20 s: ` +
                                JSON.stringify(events));
      await sleep(50);
    }
    check(pageErrors.length === 0, `errors in the page: ${pageErrors.join("; ")}`);
    console.log("events the page recorded:");
    for (const e of events) console.log(`  ${e.kind}${e.id ? " #" + e.id : ""}${e.data ? " " + JSON.stringify(e.data) : ""}`);

    // The ticks: ids 1..N in order, no gap, no repeat, each with the time as data.
    const ticks = events.filter((e) => e.kind === "tick");
    ticks.forEach((t, i) => {
      check(t.id === String(i + 1), `tick ${i} has id ${t.id}, expected ${i + 1}: ${JSON.stringify(ticks)}`);
      check(/^\d\d:\d\d:\d\d\.\d\d\d$/.test(t.data), `tick data ${JSON.stringify(t.data)}`);
    });
    const clock = await page.textContent("#clock");
    check(/^\d\d:\d\d:\d\d\.\d\d\d$/.test(clock), `the clock shows ${JSON.stringify(clock)}`);

    // The connections: open, hello, three ticks, then the drop (error) and a reconnect.
    const kinds = events.map((e) => e.kind + (e.kind === "tick" ? e.id : ""));
    const first = ["open", "hello", "tick1", "tick2", "tick3", "error", "open", "hello", "tick4", "tick5", "tick6",
                   "error", "open", "hello", "tick7"];
    check(JSON.stringify(kinds.slice(0, first.length)) === JSON.stringify(first),
          `order of events: ${kinds.join(" ")}`);

    // The greetings say what the server read from Last-Event-ID, with the line ends
    // the server mixed (CRLF, CR, LF) all turned into LF by Chromium; the browser's
    // lastEventId survives the reconnect (the greeting carries no id of its own).
    const hellos = events.filter((e) => e.kind === "hello");
    const greeting = (stream, last, next) =>
      `sse_clock stream ${stream}\nlast-event-id: ${last}\nnext id: ${next}\nretry-ms: ${INTERVAL_MS}`;
    check(hellos[0].data === greeting(1, "none", 1) && hellos[0].id === "", `first hello ${JSON.stringify(hellos[0])}`);
    check(hellos[1].data === greeting(2, "3", 4) && hellos[1].id === "3", `second hello ${JSON.stringify(hellos[1])}`);
    check(hellos[2].data === greeting(3, "6", 7) && hellos[2].id === "6", `third hello ${JSON.stringify(hellos[2])}`);

    // The server's side: the Last-Event-ID header each request carried.
    for (const want of ["events 1: last-event-id=- next=1", "events 2: last-event-id=3 next=4",
                        "events 3: last-event-id=6 next=7"])
      check(server.lines.includes(want), `server log lacks ${JSON.stringify(want)}: ${JSON.stringify(server.lines)}`);
    console.log("server log:");
    for (const line of server.lines) console.log(`  ${line}`);

    await context.close();
    context = null;
    const exited = new Promise((resolve) => server.proc.once("exit", (code, signal) => resolve({ code, signal })));
    server.proc.kill("SIGTERM");
    const result = await Promise.race([exited, sleep(2000).then(() => null)]);
    check(result !== null, "server did not exit within 2 s of SIGTERM");
    check(result.code === 0, `server exit ${JSON.stringify(result)}`);
    console.log(`ok: ${ticks.length} ticks in order over ${hellos.length} connections; ` +
                "reconnects carried Last-Event-ID 3 and 6");
  } finally {
    if (context) await context.close().catch(() => {});
    if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill("SIGKILL");
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

let args;
try {
  args = parseArgs(process.argv);
} catch (e) {
  console.error(`FAIL: ${e.message}`);
  process.exit(2);
}
const deadline = setTimeout(() => {
  console.error(`FAIL: the test did not finish within ${DEADLINE_MS / 1000} s`);
  process.exit(1);
}, DEADLINE_MS);
run(args).then(
  () => {
    clearTimeout(deadline);
    process.exit(0);
  },
  (e) => {
    console.error(`FAIL: ${e instanceof Failure ? e.message : e.stack || e}`);
    process.exit(1);
  });
