/**
 * CONTRACT FIXTURES — not the real tiers. The pop-router (contract C3) and the container balancer (contract C4)
 * are being built on other branches; until they land, these small real HTTP servers answer their control APIs
 * exactly as the contracts in CONTRACTS.md define them, so the console's POP-host and balancer views and actions
 * can be tested over real sockets. They hold their state in memory and record every mutation they receive (with
 * its Authorization header) so a test can prove the console forwarded it with the tier's token.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FixtureServer {
  url: string;
  /** Mutations received: method, path, authorization header. */
  calls: { method: string; path: string; auth: string | undefined }[];
  close(): Promise<void>;
}

async function serve(
  host: string,
  handle: (req: http.IncomingMessage, path: string) => { status: number; body?: unknown },
): Promise<FixtureServer> {
  const calls: FixtureServer['calls'] = [];
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method !== 'GET')
      calls.push({ method: req.method ?? '', path: url.pathname, auth: req.headers.authorization });
    req.resume();
    const r = handle(req, url.pathname + url.search);
    res.writeHead(r.status, { 'content-type': 'application/json' });
    res.end(r.body === undefined ? '' : JSON.stringify(r.body));
  });
  await new Promise<void>((r) => srv.listen(0, host, r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    calls,
    close: () =>
      new Promise((r) => {
        srv.closeAllConnections();
        srv.close(() => r());
      }),
  };
}

export interface PopFixtureInit {
  self: string;
  hosts: { id: string; state: 'alive' | 'suspect' | 'dead' | 'left'; sessions: number }[];
  sessions: { id: string; owner: string; epoch: number; version: number }[];
  token: string;
}

/** A pop-router's control API (C3): /v1/hosts, /v1/sessions?owner=, POST /v1/drain|undrain with the token. */
export function popRouterFixture(host: string, init: PopFixtureInit): Promise<FixtureServer> {
  let draining = false;
  return serve(host, (req, path) => {
    const authed = req.headers.authorization === `Bearer ${init.token}`;
    if (req.method === 'GET' && path === '/v1/hosts')
      return {
        status: 200,
        body: {
          self: init.self,
          hosts: init.hosts.map((h, i) => ({
            id: h.id,
            address: `198.18.0.${i + 1}`,
            tunnel: `198.18.1.${i + 1}:4789`,
            state: h.state,
            incarnation: 1,
            draining: h.id === init.self ? draining : false,
            sessions: h.sessions,
          })),
        },
      };
    if (req.method === 'GET' && path.startsWith('/v1/sessions?owner=')) {
      const owner = decodeURIComponent(path.slice('/v1/sessions?owner='.length));
      return { status: 200, body: { sessions: init.sessions.filter((s) => s.owner === owner) } };
    }
    if (req.method === 'POST' && (path === '/v1/drain' || path === '/v1/undrain')) {
      if (!authed) return { status: 401, body: { error: 'unauthorized' } };
      draining = path === '/v1/drain';
      return { status: 200, body: { draining } };
    }
    return { status: 404, body: { error: 'not found' } };
  });
}

export interface FixtureContainer {
  id: string;
  capacity: number;
  reportedLoad: number;
  state: 'serving' | 'draining';
}

/** A container balancer's API (C4): /v1/services, drain/undrain/delete of a container with the token. */
export function balancerFixture(
  host: string,
  init: { services: Record<string, FixtureContainer[]>; token: string },
): Promise<FixtureServer> {
  return serve(host, (req, path) => {
    const authed = req.headers.authorization === `Bearer ${init.token}`;
    if (req.method === 'GET' && path === '/v1/services')
      return {
        status: 200,
        body: {
          services: Object.entries(init.services).map(([service, cs]) => ({
            service,
            containers: [...cs]
              .sort((a, b) => a.reportedLoad / a.capacity - b.reportedLoad / b.capacity)
              .map((c) => ({
                id: c.id,
                mode: 'direct',
                address: `127.0.14.9:${7000 + cs.indexOf(c)}`,
                capacity: c.capacity,
                reportedLoad: c.reportedLoad,
                inFlight: 0,
                score: c.reportedLoad / c.capacity,
                state: c.state,
                registeredAt: 1_700_000_000_000,
              })),
          })),
        },
      };
    const m = /^\/v1\/containers\/([^/]+)(\/drain|\/undrain)?$/.exec(path);
    if (m && req.method !== 'GET') {
      if (!authed) return { status: 401, body: { code: 'BAL_ERR_UNAUTHORIZED', message: 'token' } };
      const id = decodeURIComponent(m[1]!);
      for (const cs of Object.values(init.services)) {
        const i = cs.findIndex((c) => c.id === id);
        if (i < 0) continue;
        if (req.method === 'DELETE' && !m[2]) cs.splice(i, 1);
        else if (req.method === 'POST' && m[2]) cs[i]!.state = m[2] === '/drain' ? 'draining' : 'serving';
        else return { status: 405, body: { code: 'BAL_ERR_BAD_REQUEST', message: 'method' } };
        return { status: 200, body: { id } };
      }
      return { status: 404, body: { code: 'BAL_ERR_NOT_FOUND', message: id } };
    }
    return { status: 404, body: { code: 'BAL_ERR_NOT_FOUND', message: path } };
  });
}
