#!/usr/bin/env node
/**
 * A benchmark backend: a plain Node HTTP server that answers every request with a small body, registered with the
 * container balancer as a direct-mode container of service `bench`. Usage:
 * `node balancer-backend.js <host> <balancer host:port> <id> <token>` (token also from BENCH_TOKEN); prints one
 * JSON ready line with its port.
 */
import http from 'node:http';
import type net from 'node:net';
import { registerDirect } from './balancer-link.js';

const [host = '127.0.0.1', balancer = '127.0.0.1:8701', id = 'b1', token = process.env['BENCH_TOKEN'] ?? ''] =
  process.argv.slice(2);
const body = Buffer.from('ok\n');
const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(0, host, () => {
  const port = (server.address() as net.AddressInfo).port;
  const link = registerDirect(balancer, token, {
    id,
    service: 'bench',
    capacity: 1000,
    address: `${host}:${port}`,
  });
  process.stdout.write(`${JSON.stringify({ backend: 'ready', id, port })}\n`);
  process.on('SIGTERM', () => {
    void link.stop().then(() => server.close(() => process.exit(0)));
  });
});
