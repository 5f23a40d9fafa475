// Node's built-in http2 client against hello_h2 (driven by hello_h2_test.py).
// usage: node h2_client.js MODE PORT [ARGS...]; prints one JSON line with what it saw.
//
//   get PATH            one request: status, headers, body, trailers
//   reset               4 slow /stream requests on one session; stream 2 is reset
//                       (RST_STREAM CANCEL) after its first bytes, the others read to the end
//   concurrent N        N GET / on one session at once; elapsed time and bodies
//   pause PATH          reads a little, pauses (flow control) until stdin says "resume",
//                       then reads to the end; prints "paused <bytes>" first
//   goaway              3 slow streams, then GOAWAY(INTERNAL_ERROR) from the client
//   drop                3 slow streams, then the session is destroyed (socket closed)
'use strict';
const http2 = require('http2');

const [mode, port, ...rest] = process.argv.slice(2);
const origin = `http://127.0.0.1:${port}`;
const deadline = setTimeout(() => fail('timed out after 20 s'), 20000);

// A pipe's stdout is asynchronous: exit only once the line is out.
function fail(msg) {
  process.stdout.write(JSON.stringify({ error: msg }) + '\n', () => process.exit(1));
}

function done(result) {
  clearTimeout(deadline);
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0));
}

function request(session, path, opts = {}) {
  return new Promise((resolve) => {
    const req = session.request({ ':path': path, ':method': opts.method || 'GET' });
    const out = { path, status: 0, headers: {}, trailers: {}, body: '', error: null, t_first: null, t_end: null };
    const t0 = Date.now();
    req.setEncoding('latin1');
    req.on('response', (headers) => {
      out.status = headers[':status'];
      for (const k of Object.keys(headers)) if (k[0] !== ':') out.headers[k] = headers[k];
    });
    req.on('trailers', (t) => { Object.assign(out.trailers, t); });
    req.on('data', (d) => {
      if (out.t_first === null) out.t_first = Date.now() - t0;
      out.body += d;
      if (opts.onData) opts.onData(req, out);
    });
    req.on('end', () => { out.t_end = Date.now() - t0; });
    req.on('error', (e) => { out.error = String(e.code || e.message); });
    req.on('close', () => {
      out.rst = req.rstCode;
      if (out.t_end === null) out.t_end = Date.now() - t0;
      resolve(out);
    });
    if (opts.onRequest) opts.onRequest(req, out);
  });
}

async function main() {
  const session = http2.connect(origin);
  session.on('error', () => {});
  if (mode === 'get') {
    const r = await request(session, rest[0], { method: rest[1] || 'GET' });
    session.close();
    return done(r);
  }
  if (mode === 'reset') {
    const path = '/stream?parts=100&size=1000&interval-ms=5';
    const reqs = [];
    for (let i = 0; i < 4; i++) {
      reqs.push(request(session, path, {
        onData: i === 1 ? (req, out) => {
          if (!out.reset_sent) {
            out.reset_sent = out.body.length;
            req.close(http2.constants.NGHTTP2_CANCEL);
          }
        } : undefined,
      }));
    }
    const results = await Promise.all(reqs);
    // The connection still serves new streams after the reset.
    const after = await request(session, '/fixed?parts=2&size=5');
    session.close();
    return done({ results: results.map((r) => ({ status: r.status, len: r.body.length, body: r.body,
                                                 rst: r.rst, reset_sent: r.reset_sent || 0 })),
                  after: { status: after.status, body: after.body } });
  }
  if (mode === 'concurrent') {
    const n = Number(rest[0]);
    const t0 = Date.now();
    const reqs = [];
    for (let i = 0; i < n; i++) reqs.push(request(session, '/'));
    const results = await Promise.all(reqs);
    const elapsed = Date.now() - t0;
    session.close();
    const bad = results.filter((r) => r.status !== 200 || r.body !== 'Hello, World');
    const firsts = results.map((r) => r.t_first);
    return done({ n: results.length, elapsed_ms: elapsed, bad: bad.length, max_first_ms: Math.max(...firsts),
                  min_end_ms: Math.min(...results.map((r) => r.t_end)) });
  }
  if (mode === 'pause') {
    let received = 0;
    let paused = false;
    const r = await request(session, rest[0], {
      onData: (req, out) => {
        received = out.body.length;
        if (!paused && received >= 16384) {
          paused = true;
          req.pause();
          // Whatever arrives from now on is what the windows let through.
          setTimeout(() => {
            process.stdout.write(`paused ${out.body.length}\n`);
            process.stdin.once('data', () => {
              process.stdout.write(`resumed ${out.body.length}\n`);
              req.resume();
            });
          }, 500);
        }
        if (out.body.length > 4 * 1024 * 1024) out.body = out.body.slice(-64); // keep memory small
        out.count = (out.count || 0) + 0;
      },
      onRequest: (req, out) => {
        let total = 0;
        req.on('data', (d) => { total += d.length; out.total = total; });
      },
    });
    session.close();
    return done({ status: r.status, total: r.total, error: r.error });
  }
  if (mode === 'goaway' || mode === 'drop') {
    const path = '/stream?parts=1000&size=100&interval-ms=10';
    let started = 0;
    const reqs = [];
    for (let i = 0; i < 3; i++) {
      reqs.push(request(session, path, {
        onData: (req, out) => {
          if (out.counted) return;
          out.counted = true;
          if (++started === 3) {
            if (mode === 'goaway') session.goaway(http2.constants.NGHTTP2_INTERNAL_ERROR);
            else session.destroy();
          }
        },
      }));
    }
    const results = await Promise.all(reqs);
    return done({ results: results.map((r) => ({ status: r.status, len: r.body.length, error: r.error })) });
  }
  fail('unknown mode ' + mode);
}

main().catch((e) => fail(String(e && e.stack || e)));
