#!/usr/bin/env node
/**
 * Balance-quality backends: N HTTP servers of uneven speed in one process (server i answers after `delays[i]` ms),
 * each registered with the container balancer as a direct-mode container of service `uneven`. The process samples
 * every server's in-flight count every 2 ms: each server's time-averaged in flight, and the ratio max/mean of those
 * averages across the servers (1 = perfectly even; per-sample ratios would mostly measure how few requests are in
 * flight at a time, not the balancer). Control on its own port: `GET /stats`, `POST /reset`.
 * Usage: `node balancer-uneven.js <host> <balancer host:port> <token> <delay,delay,…>`; prints one JSON ready line.
 */
import http from 'node:http';
import type net from 'node:net';
import type { ContainerLink } from '@switchyard/container-link';
import { registerDirect } from './balancer-link.js';

const [host = '127.0.0.1', balancer = '127.0.0.1:8701', token = '', delayList = '1,2,4,8'] =
  process.argv.slice(2);
const delays = delayList.split(',').map(Number);
const inFlight = delays.map(() => 0);
const served = delays.map(() => 0);
const inFlightSum = delays.map(() => 0);
let samples = 0;
let ratioMax = 0;
let peak = 0;
const body = Buffer.from('ok\n');

const sampler = setInterval(() => {
  let sum = 0;
  let max = 0;
  for (const [k, n] of inFlight.entries()) {
    inFlightSum[k]! += n;
    sum += n;
    if (n > max) max = n;
  }
  samples++;
  if (sum === 0) return;
  const ratio = max / (sum / inFlight.length);
  if (ratio > ratioMax) ratioMax = ratio;
  if (max > peak) peak = max;
}, 2);

function listen(server: http.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, host, () => resolve((server.address() as net.AddressInfo).port)),
  );
}

const ports: number[] = [];
const links: ContainerLink[] = [];
for (const [n, delay] of delays.entries()) {
  const server = http.createServer((_req, res) => {
    inFlight[n]!++;
    setTimeout(() => {
      inFlight[n]!--;
      served[n]!++;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
      res.end(body);
    }, delay);
  });
  server.keepAliveTimeout = 60_000;
  const port = await listen(server);
  ports.push(port);
  const link = registerDirect(balancer, token, {
    id: `u${n}`,
    service: 'uneven',
    capacity: 100,
    address: `${host}:${port}`,
  });
  links.push(link);
}

const control = http.createServer((req, res) => {
  if (req.method === 'POST') {
    samples = ratioMax = peak = 0;
    served.fill(0);
    inFlightSum.fill(0);
  }
  const avg = inFlightSum.map((x) => (samples ? x / samples : 0));
  const mean = avg.reduce((a, x) => a + x, 0) / avg.length;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(
    JSON.stringify({
      samples,
      avgInFlight: avg,
      maxOverMean: mean > 0 ? Math.max(...avg) / mean : 0,
      ratioMax,
      peak,
      served,
    }),
  );
});
// the bench reads the stats after a run longer than Node's default 5 s keep-alive: a reused idle socket closed by
// the server at that moment fails the read
control.keepAliveTimeout = 600_000;
const controlPort = await listen(control);
process.stdout.write(`${JSON.stringify({ uneven: 'ready', ports, controlPort, delays })}\n`);
process.on('SIGTERM', () => {
  clearInterval(sampler);
  void Promise.all(links.map((l) => l.stop())).then(() => process.exit(0));
});
