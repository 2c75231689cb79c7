/**
 * Worker media (C7) against a real HTTP server that answers as the container balancer does (contract C4): the
 * allocation request it gets, one allocation per conference, the SDP the participants get, and every failure.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, ManualClock } from '@switchyard/core';
import {
  BalancerMediaSource,
  SipUas,
  mediaSourceFromEnv,
  parseSipMessage,
  loadDispatcherConfig,
  mediaEnv,
  type Peer,
  type SipRequest,
  type SipResponse,
} from '../src/index.js';
import { invite } from './sip-fixtures.js';
import { conferenceOfUri } from '@switchyard/affinity';

interface Seen {
  auth: string | undefined;
  body: unknown;
}

/** A real HTTP server in the balancer's place: answers `POST /v1/allocations` with `answer(key)`. */
async function standIn(answer: (key: string) => { status: number; body: unknown; delayMs?: number }) {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(raw || '{}') as { key?: string };
      seen.push({ auth: req.headers.authorization, body });
      if (req.method !== 'POST' || req.url !== '/v1/allocations') return void res.writeHead(404).end();
      const a = answer(body.key ?? '');
      setTimeout(() => {
        res.writeHead(a.status, { 'content-type': 'application/json', 'retry-after': '1' });
        res.end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
  servers.push(srv);
  return { url, seen };
}
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

const mixerFor = (key: string) => ({
  status: 200,
  body: {
    service: 'mixer',
    key,
    containerId: 'mixer-a',
    allocation: { conference: key, rtp: { address: '127.0.0.77', port: 40002 } },
  },
});

const config = (balancerUrl: string) => ({
  balancerUrl,
  balancerToken: 'tok',
  mediaService: 'mixer',
  mediaTimeoutMs: 2000,
  mediaCheckMs: 1000,
});

describe('BalancerMediaSource', () => {
  it('allocates once per conference (concurrent first INVITEs share one request), with service, key and token', async () => {
    const b = await standIn((key) => ({ ...mixerFor(key), delayMs: 30 }));
    const m = new BalancerMediaSource({}, config(b.url));
    const [x, y] = await Promise.all([m.allocate('conf-1'), m.allocate('conf-1')]);
    expect(x).toEqual({ address: '127.0.0.77', port: 40002, containerId: 'mixer-a' });
    expect(y).toBe(x);
    expect(m.cached('conf-1')).toBe(x);
    await m.allocate('conf-2');
    expect(b.seen).toEqual([
      { auth: 'Bearer tok', body: { service: 'mixer', key: 'conf-1' } },
      { auth: 'Bearer tok', body: { service: 'mixer', key: 'conf-2' } },
    ]);
    m.release('conf-1');
    expect(m.cached('conf-1')).toBeUndefined();
    await m.allocate('conf-1');
    expect(b.seen).toHaveLength(3);
    expect(m.counters.allocations).toBe(3);
  });

  it('turns a 503, a malformed answer and an unreachable balancer into typed errors, caching nothing', async () => {
    const b = await standIn((key) =>
      key === 'busy'
        ? { status: 503, body: { code: 'BAL_ERR_NO_CONTAINER', message: 'none' } }
        : key === 'garbage'
          ? { status: 200, body: 'not json' }
          : { status: 200, body: { allocation: { rtp: { address: '127.0.0.77', port: 70000 } } } },
    );
    const m = new BalancerMediaSource({}, config(b.url));
    await expect(m.allocate('busy')).rejects.toMatchObject({ code: 'DSP_ERR_MEDIA_UNAVAILABLE' });
    await expect(m.allocate('garbage')).rejects.toMatchObject({ code: 'DSP_ERR_MEDIA_FAILED' });
    await expect(m.allocate('bad-port')).rejects.toMatchObject({ code: 'DSP_ERR_MEDIA_FAILED' });
    expect(m.cached('busy')).toBeUndefined();
    const closed = new BalancerMediaSource({}, config('http://127.0.0.1:1'));
    await expect(closed.allocate('x')).rejects.toMatchObject({ code: 'DSP_ERR_MEDIA_FAILED' });
    expect(m.counters.failures).toBe(3);
  });

  it('is configured from the environment the workers inherit, and absent without a balancer URL', () => {
    expect(mediaSourceFromEnv({})).toBeUndefined();
    expect(mediaSourceFromEnv({ SIPDISP_BALANCER_URL: 'http://127.0.0.1:9' })).toBeInstanceOf(
      BalancerMediaSource,
    );
    // the media settings are the dispatcher's own flags; the primary hands them to its workers by env
    const r = loadDispatcherConfig(['--balancer-url', 'http://b:1', '--media-service', 'mix'], {});
    if (r.help) throw new Error('help');
    expect(mediaEnv(r.config)).toEqual({
      SIPDISP_BALANCER_URL: 'http://b:1',
      SIPDISP_BALANCER_TOKEN: '',
      SIPDISP_MEDIA_SERVICE: 'mix',
      SIPDISP_MEDIA_TIMEOUT_MS: '5000',
      SIPDISP_MEDIA_CHECK_MS: '1000',
    });
    expect(() => loadDispatcherConfig(['--balancer-url', 'ftp://x'], {})).toThrow(ConfigError);
  });
});

describe('SipUas with worker media', () => {
  const peer: Peer = { transport: 'udp', address: '127.0.0.1', port: 5080, local: 0 };

  function setup(media: BalancerMediaSource) {
    const clock = new ManualClock();
    const sent: SipResponse[] = [];
    const uas = new SipUas(
      {
        clock,
        send: (bytes) => {
          const r = parseSipMessage(bytes);
          if (r.ok && r.message.kind === 'response') sent.push(r.message);
        },
        localAddress: () => ({ address: '127.0.0.1', port: 5060 }),
        events: { dialogOpened: () => undefined, dialogClosed: () => undefined },
        media,
      },
      {},
    );
    const feed = (raw: Buffer) => {
      const r = parseSipMessage(raw);
      if (!r.ok || r.message.kind !== 'request') throw new Error('fixture does not parse');
      // the primary's routing key: the Request-URI's user part
      uas.onRequest(r.message as SipRequest, peer, conferenceOfUri((r.message as SipRequest).uri));
    };
    return { sent, feed, uas };
  }

  const until = async (what: string, ok: () => boolean) => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
    if (!ok()) throw new Error(`timed out waiting for ${what}`);
  };

  it("answers every participant with the mixer's RTP address, allocating on the first INVITE only", async () => {
    const b = await standIn(mixerFor);
    const t = setup(new BalancerMediaSource({}, config(b.url)));
    t.feed(invite({ callId: 'a@x', fromTag: 'fa', branch: 'z9hG4bK-a' }));
    await until('the first 200', () => t.sent.some((m) => m.status === 200));
    t.feed(invite({ callId: 'b@x', fromTag: 'fb', branch: 'z9hG4bK-b' }));
    await until('the second 200', () => t.sent.filter((m) => m.status === 200).length === 2);
    for (const ok of t.sent.filter((m) => m.status === 200)) {
      const sdp = ok.body.toString();
      expect(sdp).toContain('c=IN IP4 127.0.0.77\r\n');
      expect(sdp).toContain('m=audio 40002 RTP/AVP 0\r\n');
    }
    expect(b.seen).toHaveLength(1);
    expect(b.seen[0]!.body).toEqual({ service: 'mixer', key: 'conf-7' });
  });

  it('answers 503 with Retry-After when no mixer can be allocated, and opens no dialog', async () => {
    const b = await standIn(() => ({ status: 503, body: { code: 'BAL_ERR_NO_CONTAINER', message: 'none' } }));
    const t = setup(new BalancerMediaSource({}, config(b.url)));
    t.feed(invite());
    await until('a final response', () => t.sent.some((m) => m.status >= 200));
    const final = t.sent.find((m) => m.status >= 200)!;
    expect(final.status).toBe(503);
    // the UAS's one Retry-After for every 503 it sends (UAS_DEFAULTS.retryAfterS)
    expect(final.headers.find((h) => h.name === 'retry-after')?.value).toBe('5');
    expect(t.uas.dialogCount).toBe(0);
  });
});
