// Registry micro-benchmark (bounded): store operations per second and change-to-watcher latency, memory and
// Redis backends, plus push-channel delta latency. Run after a build:
//   npx nx run @switchyard/registry:build && node libs/registry/bench/registry-bench.mjs
// Prints one JSON object. Uses a private redis-server on a free loopback port.
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { SystemClock } from '@switchyard/core';
import { startRedis } from '@switchyard/testing';
import { MemoryRegistryStore, PushPublisher, PushSubscriber, RedisRegistryStore } from '../dist/index.js'; // the built package, as a consumer would load it

const N = Number(process.env.BENCH_N ?? 5000); // operations per measurement
const CONC = 50; // operations in flight
const clock = new SystemClock({ unref: true });

async function rate(fn) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < N) await fn(next++);
    }),
  );
  return Math.round(N / ((performance.now() - t0) / 1000));
}

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return Number(s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))].toFixed(3));
};

async function feedLatency(store, service, samples = 500) {
  const w = store.watch(service);
  const it = w[Symbol.asyncIterator]();
  await it.next(); // snapshot
  const lat = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    await store.update(service, 'r0', { load: i + 1 });
    for (;;) {
      const { value } = await it.next();
      if (value.type === 'updated' && value.record.load === i + 1) break;
    }
    lat.push(performance.now() - t0);
  }
  w.close();
  return { p50_ms: pct(lat, 50), p99_ms: pct(lat, 99) };
}

async function storeBench(store) {
  const put = await rate((i) =>
    store.put({ id: `r${i % 1000}`, service: 'bench', address: '127.0.0.1:1', ttlMs: 60_000 }),
  );
  const renew = await rate((i) => store.renew('bench', `r${i % 1000}`, 60_000));
  const update = await rate((i) => store.update('bench', `r${i % 1000}`, { load: i }));
  const get = await rate((i) => store.get('bench', `r${i % 1000}`));
  return {
    ops_per_s: { put, renew, update, get },
    put_to_watcher_latency: await feedLatency(store, 'bench'),
  };
}

async function pushBench(samples = 1000) {
  const sub = new PushSubscriber({ clock }, { port: 0 });
  await sub.start();
  const { host, port } = sub.address();
  const pub = new PushPublisher(
    { clock },
    { host, port, record: { id: 'c', service: 'mixer', address: 'x' }, heartbeatMs: 1000 },
  );
  let waiting;
  sub.on((e) => {
    if (e.type === 'changed' && waiting && e.record.load === waiting.load) waiting.resolve();
  });
  await pub.start();
  const lat = [];
  for (let i = 1; i <= samples; i++) {
    const done = new Promise((resolve) => (waiting = { load: i, resolve }));
    const t0 = performance.now();
    pub.update({ load: i });
    await done;
    lat.push(performance.now() - t0);
  }
  await pub.stop();
  await sub.stop();
  return { delta_latency: { p50_ms: pct(lat, 50), p99_ms: pct(lat, 99) }, samples };
}

const server = await startRedis();
const redis = new Redis({ host: server.host, port: server.port });
try {
  const mem = new MemoryRegistryStore({ clock });
  await mem.start();
  const memory = await storeBench(mem);
  await mem.stop();
  const rs = new RedisRegistryStore({ redis, clock }, { prefix: 'bench' });
  await rs.start();
  const redisResult = await storeBench(rs);
  await rs.stop();
  const push = await pushBench();
  console.log(
    JSON.stringify(
      { n: N, concurrency: CONC, node: process.version, memory, redis: redisResult, push },
      null,
      2,
    ),
  );
} finally {
  redis.disconnect();
  await server.stop();
}
