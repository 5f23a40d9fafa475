#!/usr/bin/env node
// Wire tests with Node's http module and its strict llhttp parser (the default).
// Usage: node wire_node.js PATH/TO/rill_wire_server
// Prints one line per case and exits non-zero if any case fails.
'use strict';

const http = require('http');
const { spawn } = require('child_process');
const assert = require('assert');

const HOST = '127.0.0.1';
const CASE_TIMEOUT_MS = 5000;
let PORT = 0;

function startServer(path) {
  return new Promise((resolve, reject) => {
    const proc = spawn(path, ['--port', '0', '--idle-seconds', '30', '--max-seconds', '120'],
                       { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error('wire_server did not report its port in 10 s')), 10000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d.toString();
      const m = /^listening on (\d+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
    });
    proc.on('error', reject);
  });
}

function expectedBody(spec) {
  return spec.split(',').map((item, i) =>
    (/^\d{1,9}$/.test(item) ? String.fromCharCode(97 + (i % 26)).repeat(Number(item)) : item)).join('');
}

function fnv1a(text) {
  let h = 2166136261;
  for (const b of Buffer.from(text)) {
    h ^= b;
    h = Math.imul(h, 16777619) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

// One request; resolves with { res, body, error, aborted, reused } once the response
// ended, failed or the socket closed. Never rejects: the cases judge the outcome.
// One keep-alive socket for the whole case, so reuse (or its absence) is observable.
async function withKeepAliveAgent(fn) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    return await fn(agent);
  } finally {
    agent.destroy();
  }
}

function request(path, { method = 'GET', headers = {}, agent = false } = {}) {
  return new Promise((resolve) => {
    const out = { res: null, body: '', error: null, aborted: false, reused: null };
    let settled = false;
    const done = () => {
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        resolve(out);
      }
    };
    const timer = setTimeout(() => {
      out.error = out.error || new Error('case timed out');
      req.destroy();
      done();
    }, CASE_TIMEOUT_MS);
    const req = http.request({ host: HOST, port: PORT, path, method, headers, agent,
                               insecureHTTPParser: false }, (res) => {
      out.res = res;
      out.reused = req.reusedSocket;
      res.setEncoding('latin1');
      res.on('data', (d) => { out.body += d; });
      res.on('aborted', () => { out.aborted = true; });
      res.on('error', (e) => { out.error = out.error || e; });
      res.on('end', done);
      res.on('close', () => setImmediate(done));
    });
    req.on('error', (e) => { out.error = out.error || e; done(); });
    req.end();
  });
}

async function log(tag) {
  const r = await request('/__log?tag=' + tag);
  assert.ifError(r.error);
  const lines = r.body.split('\n').filter((l) => l.length > 0);
  assert.strictEqual(lines.length, 1, `log lines for ${tag}: ${JSON.stringify(lines)}`);
  return lines[0];
}

async function logHas(tag, ...needles) {
  const line = await log(tag);
  for (const n of needles) assert.ok(line.includes(n), `log for ${tag} lacks ${n}: ${line}`);
  return line;
}

function ok(r) {
  assert.ifError(r.error);
  assert.ok(r.res, 'no response');
  assert.strictEqual(r.res.complete, true, 'response not complete');
}

const CASES = [
  ['node_chunked_deferred', async () => {
    const r = await request('/?parts=hello,,world&delay-ms=10&tag=n1');
    ok(r);
    assert.strictEqual(r.res.statusCode, 200);
    assert.strictEqual(r.res.headers['transfer-encoding'], 'chunked');
    assert.strictEqual(r.res.headers['content-length'], undefined);
    assert.strictEqual(r.body, 'helloworld');
    await logHas('n1', 'framing=chunked', 'reason=completed');
  }],
  ['node_trailers', async () => {
    const spec = '3,4,,x';
    const r = await request(`/?parts=${spec}&trailers=1&delay-ms=2&tag=n2`);
    ok(r);
    assert.strictEqual(r.res.headers.trailer, 'X-Checksum, X-Count');
    assert.strictEqual(r.body, expectedBody(spec));
    assert.deepStrictEqual(r.res.trailers, { 'x-checksum': fnv1a(expectedBody(spec)), 'x-count': '3' });
    await logHas('n2', 'close=ok', 'reason=completed');
  }],
  ['node_keepalive_reuse_after_chunked', async () => {
    await withKeepAliveAgent(async (agent) => {
      const a = await request('/?parts=ab,cd,ef&delay-ms=15&trailers=1&tag=n3', { agent });
      ok(a);
      assert.strictEqual(a.body, 'abcdef');
      assert.strictEqual(a.reused, false);
      const b = await request('/?parts=gh', { agent });
      ok(b);
      assert.strictEqual(b.reused, true, 'second request did not reuse the socket');
      assert.strictEqual(b.body, 'gh');
      const c = await request('/?cl=2&parts=ij', { agent });
      ok(c);
      assert.strictEqual(c.reused, true, 'third request did not reuse the socket');
      assert.strictEqual(c.body, 'ij');
    });
    await logHas('n3', 'keep_alive=1');
  }],
  ['node_fixed_length', async () => {
    await withKeepAliveAgent(async (agent) => {
      const r = await request('/?cl=7&parts=3,4&delay-ms=3&tag=n4', { agent });
      ok(r);
      assert.strictEqual(r.res.headers['content-length'], '7');
      assert.strictEqual(r.res.headers['transfer-encoding'], undefined);
      assert.strictEqual(r.res.headers.connection, undefined);
      assert.strictEqual(r.body, 'aaabbbb');
      const n = await request('/?cl=2&parts=xy', { agent });
      ok(n);
      assert.strictEqual(n.reused, true, 'socket not reused after a fixed-length body');
      assert.strictEqual(n.body, 'xy');
    });
    await logHas('n4', 'framing=fixed', 'keep_alive=1');
  }],
  ['node_no_agent_sends_close', async () => {
    // Without an agent Node asks for Connection: close; rill must answer it and close.
    const r = await request('/?cl=3&parts=abc&tag=n4c');
    ok(r);
    assert.strictEqual(r.res.headers.connection, 'close');
    assert.strictEqual(r.body, 'abc');
    await logHas('n4c', 'framing=fixed', 'keep_alive=0');
  }],
  ['node_empty_sends', async () => {
    const r = await request('/?parts=,,ab,,cd,,&delay-ms=1');
    ok(r);
    assert.strictEqual(r.body, 'abcd');
    const f = await request('/?cl=4&parts=,ab,,cd,');
    ok(f);
    assert.strictEqual(f.body, 'abcd');
  }],
  ['node_head', async () => {
    await withKeepAliveAgent(async (agent) => {
      const h = await request('/?cl=7&parts=3,4&tag=n5', { method: 'HEAD', agent });
      ok(h);
      assert.strictEqual(h.res.headers['content-length'], '7');
      assert.strictEqual(h.body, '');
      const g = await request('/?parts=after', { agent });
      ok(g);
      assert.strictEqual(g.reused, true, 'socket not reused after HEAD with Content-Length');
      assert.strictEqual(g.body, 'after');
      // No length known: on HTTP/1.1 the head announces the chunked framing its GET would
      // have; llhttp must skip the (absent) body and keep the socket.
      const u = await request('/?parts=3,4&tag=n5u', { method: 'HEAD', agent });
      ok(u);
      assert.strictEqual(u.res.headers['transfer-encoding'], 'chunked');
      assert.strictEqual(u.res.headers['content-length'], undefined);
      assert.strictEqual(u.body, '');
      const v = await request('/?parts=after', { agent });
      ok(v);
      assert.strictEqual(v.reused, true, 'socket not reused after HEAD of unknown length');
      assert.strictEqual(v.body, 'after');
    });
    await logHas('n5', 'framing=none', 'keep_alive=1');
    await logHas('n5u', 'framing=none', 'keep_alive=1');
  }],
  ...[204, 304].map((status) => [`node_${status}`, async () => {
    await withKeepAliveAgent(async (agent) => {
      const r = await request(`/?status=${status}&parts=abc&tag=n${status}`, { agent });
      ok(r);
      assert.strictEqual(r.res.statusCode, status);
      assert.strictEqual(r.body, '');
      assert.strictEqual(r.res.headers['transfer-encoding'], undefined);
      assert.strictEqual(r.res.headers['content-length'], undefined);
      const n = await request('/?parts=next', { agent });
      ok(n);
      assert.strictEqual(n.reused, true);
      assert.strictEqual(n.body, 'next');
    });
    await logHas(`n${status}`, 'framing=none', 'sends= reason=completed');  // ended with the head
  }]),
  ['node_request_connection_close', async () => {
    await withKeepAliveAgent(async (agent) => {
      const r = await request('/?parts=ab,cd&delay-ms=2&tag=n6', { agent, headers: { Connection: 'close' } });
      ok(r);
      assert.strictEqual(r.res.headers.connection, 'close');
      assert.strictEqual(r.body, 'abcd');
      const n = await request('/?parts=x', { agent });
      ok(n);
      assert.strictEqual(n.reused, false, 'a closed connection was reused');
    });
    await logHas('n6', 'keep_alive=0');
  }],
  ['node_app_connection_close', async () => {
    await withKeepAliveAgent(async (agent) => {
      const r = await request('/?parts=ab&close=1&tag=n7', { agent });
      ok(r);
      assert.deepStrictEqual(r.res.rawHeaders.filter((h, i) => i % 2 === 0 && /^connection$/i.test(h)),
                             ['Connection'], 'exactly one Connection header');
      assert.strictEqual(r.res.headers.connection, 'close');
      assert.strictEqual(r.body, 'ab');
      const n = await request('/?parts=x', { agent });
      ok(n);
      assert.strictEqual(n.reused, false, 'a closed connection was reused');
    });
    await logHas('n7', 'keep_alive=0');
  }],
  ['node_truncated_fixed', async () => {
    const r = await request('/?cl=10&parts=abc&short=1&tag=n8');
    assert.ok(r.res, 'no response head');
    assert.strictEqual(r.res.headers['content-length'], '10');
    assert.strictEqual(r.res.complete, false, 'truncated body reported complete');
    assert.ok(r.error || r.aborted, 'node reported neither an error nor an abort');
    assert.strictEqual(r.body, 'abc');
    await logHas('n8', 'reason=truncated', 'keep_alive=0');
  }],
  ['node_aborted_chunked', async () => {
    const r = await request('/?parts=abc,def&delay-ms=2&abort=1&tag=n9');
    assert.ok(r.res, 'no response head');
    assert.strictEqual(r.res.complete, false, 'aborted chunked body reported complete');
    assert.ok(r.error || r.aborted, 'node reported neither an error nor an abort');
    await logHas('n9', 'reason=aborted');
  }],
  ['node_over_length', async () => {
    await withKeepAliveAgent(async (agent) => {
      const r = await request('/?cl=5&parts=abc,defgh,de&over=1&tag=n10', { agent });
      ok(r);
      assert.strictEqual(r.body, 'abcde');
      // llhttp would fail on this response if any byte past Content-Length had been sent.
      const n = await request('/?parts=next', { agent });
      ok(n);
      assert.strictEqual(n.reused, true);
      assert.strictEqual(n.body, 'next');
    });
    await logHas('n10', 'length_exceeded', 'reason=completed');
  }],
  ['node_trailers_dropped_fixed', async () => {
    const r = await request('/?cl=3&parts=abc&trailers=1&tag=n11');
    ok(r);
    assert.strictEqual(r.body, 'abc');
    assert.deepStrictEqual(r.res.trailers, {});
    await logHas('n11', 'close=trailers_dropped');
  }],
  ['node_inject', async () => {
    const r = await request('/?inject=1&tag=n12');
    ok(r);
    assert.strictEqual(r.res.statusCode, 500);
    assert.ok(!r.res.rawHeaders.some((h) => /injected/i.test(h)), 'X-Injected reached the client');
    assert.strictEqual(r.body, 'refused: invalid_field_value\n');
    const line = await logHas('n12', 'head=invalid_field_value,invalid_field_name,ok,');
    assert.ok(!line.includes('LEAKED'), line);
  }],
  ['node_bad_heads', async () => {
    for (const [kind, status] of [['te', 'transfer_encoding_set'], ['cl-dup', 'invalid_content_length'],
                                  ['cl-204', 'content_length_forbidden'], ['reason', 'invalid_reason']]) {
      const r = await request(`/?bad=${kind}`);
      ok(r);
      assert.strictEqual(r.res.statusCode, 500, kind);
      assert.strictEqual(r.body, `refused: ${status}\n`, kind);
    }
  }],
  ['node_status_codes', async () => {
    for (const status of [201, 404, 500, 503]) {
      const r = await request(`/?status=${status}&parts=e`);
      ok(r);
      assert.strictEqual(r.res.statusCode, status);
      assert.strictEqual(r.body, 'e');
    }
  }],
  ['node_large_body', async () => {
    const spec = '300000,300000,300000,1';
    const r = await request(`/?parts=${spec}`);
    ok(r);
    assert.strictEqual(r.body.length, 900001);
    assert.ok(r.body === expectedBody(spec), 'large body differs');
  }],
];

async function main() {
  if (process.argv.length !== 3) {
    console.error('usage: node wire_node.js PATH/TO/rill_wire_server');
    return 2;
  }
  const started = Date.now();
  const { proc, port } = await startServer(process.argv[2]);
  PORT = port;
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let failures = 0;
  try {
    for (const [name, fn] of CASES) {
      try {
        await fn();
        console.log(`ok   ${name}`);
      } catch (e) {
        failures += 1;
        console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
      }
    }
  } finally {
    proc.kill('SIGTERM');
  }
  const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  const { code } = await exited;
  clearTimeout(killer);
  if (code !== 0) {
    failures += 1;
    console.log(`FAIL server exit status ${code}`);
  }
  console.log(`${CASES.length} cases, ${failures} failed, ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return failures ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => {
  console.log(`FAIL driver: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
