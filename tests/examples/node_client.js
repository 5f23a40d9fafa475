// Drives hello_deferred with Node's http module (llhttp, default strict settings):
// keep-alive reuse of one socket, chunked trailers, Content-Length bodies.
// usage: node node_client.js PORT DELAY_MS ; exits non-zero on the first failure.
'use strict';
const http = require('http');
const assert = require('assert');

const port = Number(process.argv[2]);
const delayMs = Number(process.argv[3]);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sockets = new Set();

function get(path, method = 'GET') {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = http.request({ host: '127.0.0.1', port, path, method, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({
        status: res.statusCode, headers: res.headers, trailers: res.trailers,
        body: Buffer.concat(chunks).toString('latin1'), reused: req.reusedSocket,
        ms: Date.now() - started,
      }));
      res.on('error', reject);
    });
    req.on('socket', (s) => sockets.add(s));
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error(`timeout on ${path}`)));
    req.end();
  });
}

function fnv1a64(s) {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < s.length; ++i) {
    h ^= BigInt(s.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

function pattern(n) {
  const a = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  let s = '';
  for (let i = 0; i < n; ++i) s += a[i % a.length];
  return s;
}

async function main() {
  const first = await get('/');
  assert.strictEqual(first.status, 200);
  assert.strictEqual(first.body, 'Hello, World');
  assert.strictEqual(first.headers['transfer-encoding'], 'chunked');
  assert.strictEqual(first.reused, false);
  assert.ok(first.ms >= delayMs - 5, `first response took ${first.ms} ms, delay is ${delayMs}`);

  const second = await get('/');
  assert.strictEqual(second.body, 'Hello, World');
  assert.strictEqual(second.reused, true, 'second request did not reuse the socket');

  const fixed = await get('/fixed?parts=4&size=100');
  assert.strictEqual(fixed.headers['content-length'], '400');
  assert.strictEqual(fixed.body, pattern(400));
  assert.strictEqual(fixed.reused, true);

  const tr = await get('/trailers?parts=5&size=33');
  assert.strictEqual(tr.headers.trailer, 'X-Checksum');
  assert.strictEqual(tr.body, pattern(165));
  assert.strictEqual(tr.trailers['x-checksum'], fnv1a64(pattern(165)));
  assert.strictEqual(tr.reused, true);

  // HEAD of a Content-Length route and of a chunked one: each head names the
  // framing its GET would use, so llhttp knows no body follows and keeps the socket.
  const head = await get('/fixed?parts=3&size=10', 'HEAD');
  assert.strictEqual(head.status, 200);
  assert.strictEqual(head.headers['content-length'], '30');
  assert.strictEqual(head.body, '');
  assert.strictEqual(head.reused, true);
  const headChunked = await get('/stream?parts=3&size=10', 'HEAD');
  assert.strictEqual(headChunked.status, 200);
  assert.strictEqual(headChunked.headers['transfer-encoding'], 'chunked');
  assert.strictEqual(headChunked.body, '');
  assert.strictEqual(headChunked.reused, true);

  const missing = await get('/missing');
  assert.strictEqual(missing.status, 404);
  assert.strictEqual(missing.reused, true, '404 must keep the connection');

  assert.strictEqual(sockets.size, 1, `expected one socket, used ${sockets.size}`);
  agent.destroy();
  console.log('node client: 6 requests on 1 socket, all checks passed');
}

main().catch((e) => {
  console.error('node client FAILED:', e && e.stack ? e.stack : e);
  process.exit(1);
});
