// Load test of `bertscope serve` (issue 21): 50 clients POST /api/run on a small model for
// SECONDS (default 60) over loopback. Every request must be answered 200 or, when every run slot
// is busy, a deliberate 503 with Retry-After; no connection error, no other status, no answer
// slower than the server's own limits allow. The server's resident memory is sampled each second
// and must stay bounded: its peak over the second half of the run no more than 1.25x (plus 16 MiB)
// the peak of the first half, and under 1 GiB. A client sending its request one byte per second
// during the load must not hold up a quick request by more than 1 s beyond the load's own latency.
//
//   node serve_load.test.mjs [SECONDS]
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { assert, cleanup, makeModel, startServe, tempDir } from './harness.mjs';

const seconds = Number(process.argv[2] ?? 60);
const clients = 50;
const dir = tempDir('serve-load');
let server = null;

const words = 'the a cat dog sat ran on under mat table and then it slept quickly slowly house garden'.split(' ');
function sentence(rng) {
  const n = 4 + Math.floor(rng() * 12);
  return Array.from({ length: n }, () => words[Math.floor(rng() * words.length)]).join(' ') + ' .';
}
function seeded(seed) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

// One POST /api/run: resolves with {status, ms, retryAfter} or {error}.
function post(url, agent, body) {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = http.request(
      new URL('api/run', url),
      { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - start, retryAfter: res.headers['retry-after'] }));
      },
    );
    req.setTimeout(120000, () => req.destroy(new Error('client timeout after 120 s')));
    req.on('error', (e) => resolve({ error: e.message, ms: performance.now() - start }));
    req.end(body);
  });
}

function rssMiB(pid) {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

try {
  const model = makeModel(path.join(dir, 'm'), { layers: 2, hidden: 64, heads: 4, intermediate: 128, seed: 3 });
  server = await startServe(['--model', model, '--threads', '1']);
  const pid = server.proc.pid;
  const end = Date.now() + seconds * 1000;
  const statuses = new Map();
  const errors = [];
  const latencies = [];
  const rss = [];
  const sampler = setInterval(() => rss.push({ t: Date.now(), mib: rssMiB(pid) }), 1000);

  // Half-way through, a client that sends a request one byte per second, and a quick request
  // timed while it does.
  const slowCheck = (async () => {
    await new Promise((r) => setTimeout(r, (seconds * 1000) / 2));
    const { port, hostname } = new URL(server.url);
    const socket = net.connect(Number(port), hostname);
    socket.on('error', () => {});
    const request = 'GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n';
    let i = 0;
    const drip = setInterval(() => (i < request.length ? socket.write(request[i++]) : clearInterval(drip)), 1000);
    await new Promise((r) => setTimeout(r, 3000));
    const quick = [];
    for (let k = 0; k < 3; k++) quick.push(await post(server.url, new http.Agent(), JSON.stringify({ text: 'a quick one' })));
    clearInterval(drip);
    socket.destroy();
    return quick;
  })();

  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const rng = seeded(c + 1);
      while (Date.now() < end) {
        const r = await post(server.url, agent, JSON.stringify({ text: sentence(rng) }));
        if (r.error) {
          errors.push(r.error);
          continue;
        }
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 200) latencies.push(r.ms);
        if (r.status === 503) assert.ok(r.retryAfter, 'a 503 says when to retry');
      }
      agent.destroy();
    }),
  );
  const quick = await slowCheck;
  clearInterval(sampler);

  const ok = statuses.get(200) ?? 0;
  const busy = statuses.get(503) ?? 0;
  const other = [...statuses].filter(([s]) => s !== 200 && s !== 503);
  const half = rss.length >> 1;
  const firstPeak = Math.max(...rss.slice(0, half).map((s) => s.mib));
  const secondPeak = Math.max(...rss.slice(half).map((s) => s.mib));
  const p50 = median(latencies);
  const p99 = [...latencies].sort((a, b) => a - b)[Math.floor(latencies.length * 0.99)] ?? NaN;
  console.log(
    `serve_load: ${clients} clients for ${seconds} s: ${ok} answered 200, ${busy} deliberate 503, ` +
      `${other.length ? JSON.stringify(other) : 'no other status'}, ${errors.length} connection errors; ` +
      `latency of 200s median ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms; server RSS peak ${firstPeak.toFixed(1)} MiB ` +
      `(first half), ${secondPeak.toFixed(1)} MiB (second half); quick requests beside a 1 byte/s client: ` +
      quick.map((q) => (q.error ? q.error : `${q.status} in ${q.ms.toFixed(0)} ms`)).join(', '),
  );
  assert.deepEqual(errors, [], 'no connection errors');
  assert.deepEqual(other, [], 'only 200 and deliberate 503');
  assert.ok(ok > clients, `requests answered: ${ok}`);
  assert.ok(secondPeak <= 1.25 * firstPeak + 16, `memory grows: ${firstPeak} MiB, then ${secondPeak} MiB`);
  assert.ok(secondPeak < 1024, `memory ${secondPeak} MiB`);
  for (const q of quick) {
    assert.ok(!q.error && (q.status === 200 || q.status === 503), `quick request beside the slow client: ${JSON.stringify(q)}`);
    assert.ok(q.ms <= p99 + 1000, `the slow client held a quick request for ${q.ms} ms (load p99 ${p99} ms)`);
  }
} finally {
  if (server) await server.stop();
  cleanup(dir);
}
