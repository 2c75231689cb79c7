/**
 * The HTTP keep-alive probe against a real HTTP server on loopback: a 2xx is alive, any other status, a refused
 * connection or no answer within the timeout (a ManualClock) is not; the connection is kept between probes.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock, systemClock } from '@switchyard/core';
import { waitFor } from '@switchyard/testing';
import { httpProbe } from '../src/keepalive/http-probe.js';

const HOST = `127.0.12.${2 + ((process.pid + 7) % 250)}`;
let server: http.Server;
let base: string;
const connections: number[] = [];
let hanging = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/hang') {
      hanging++; // never answered
      return;
    }
    res.statusCode = req.url === '/down' ? 503 : 200;
    res.end('x');
  });
  server.on('connection', () => connections.push(1));
  await new Promise<void>((r) => server.listen(0, HOST, r));
  base = `http://${HOST}:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('httpProbe', () => {
  it('a 2xx is alive, a 503 is not, and probes reuse one connection', async () => {
    const probe = httpProbe(systemClock);
    try {
      const before = connections.length;
      expect(await probe(`${base}/healthz`, 5000)).toBe(true);
      expect(await probe(`${base}/healthz`, 5000)).toBe(true);
      expect(await probe(`${base}/down`, 5000)).toBe(false);
      expect(connections.length - before).toBe(1);
    } finally {
      probe.close();
    }
  });

  it('no answer within the timeout is a failed probe; so are a refused connection and a bad URL', async () => {
    const clock = new ManualClock(1_700_000_000_000);
    const probe = httpProbe(clock);
    try {
      let result: boolean | undefined;
      void probe(`${base}/hang`, 400).then((r) => (result = r));
      // the request must be on the server before the clock moves (bounded polling, no duration asserted)
      await waitFor('the hanging request to arrive', () => (hanging > 0 ? true : undefined), {
        timeoutMs: 5000,
      });
      await clock.advanceAsync(399);
      expect(result).toBeUndefined();
      await clock.advanceAsync(1);
      await waitFor('the probe to time out', () => (result === undefined ? undefined : true), {
        timeoutMs: 5000,
      });
      expect(result).toBe(false);
      const closed = http.createServer();
      await new Promise<void>((r) => closed.listen(0, HOST, r));
      const port = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      expect(await probe(`http://${HOST}:${port}/healthz`, 5000)).toBe(false);
      expect(await probe('not a url', 5000)).toBe(false);
    } finally {
      probe.close();
    }
  });
});
