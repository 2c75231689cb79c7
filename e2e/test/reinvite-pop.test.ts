/**
 * The worker's own requests across the POP (contracts C9, C14): the media mover's re-INVITE after a mixer dies.
 * The participants are raw UDP SIP user agents written here (not SIPp), because the test must choose where each
 * response goes: a 200 to the re-INVITE sent to a host that does NOT own the conference (what ECMP does to a
 * shared VIP) must reach the owner's worker, which then ACKs it. Its own composed stack (3 POP hosts in `udp` mode,
 * balancer, 3 mixers) so that the mixer kills here do not interfere with conference.test.ts.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mixerUrls, placeConference, waitClaimedEverywhere } from '@switchyard/stack';
import { waitFor } from '@switchyard/testing';
import { hostsOf, logTail, startStack, type E2eStack } from './helpers.js';

type Msg = { first: string; headers: Map<string, string[]>; body: string; raw: string };

function parse(raw: string): Msg {
  const [head = '', body = ''] = raw.split('\r\n\r\n');
  const lines = head.split('\r\n');
  const headers = new Map<string, string[]>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i < 0) continue;
    const name = l.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), l.slice(i + 1).trim()]);
  }
  return { first: lines[0] ?? '', headers, body, raw };
}
const h = (m: Msg, name: string) => m.headers.get(name)?.[0] ?? '';
/** `IN IP4 <address>` and the first `m=` port of an SDP body. */
function sdpMedia(body: string): string {
  const c = /c=IN IP[46] (\S+)/.exec(body)?.[1];
  const p = /m=audio (\d+)/.exec(body)?.[1];
  return `${c}:${p}`;
}
const hostPort = (sip: string) => {
  const i = sip.lastIndexOf(':');
  return { address: sip.slice(0, i), port: Number(sip.slice(i + 1)) };
};

/** One participant: a UDP socket that INVITEs a conference, answers re-INVITEs where the test says, and hangs up. */
class RawUac {
  readonly inbox: Msg[] = [];
  private readonly sock = dgram.createSocket('udp4');
  private port = 0;
  readonly callId: string;
  private readonly tag: string;
  private cseq = 1;
  toTag = '';
  /** The Contact of our dialog's remote side (the worker), as its last 2xx or request gave it. */
  remoteContact = '';

  constructor(
    readonly name: string,
    private readonly conf: string,
  ) {
    this.callId = `${name}-${process.pid}-${Date.now()}@127.0.0.1`;
    this.tag = `t-${name}`;
    this.sock.on('message', (b) => this.inbox.push(parse(b.toString('latin1'))));
  }

  async open(): Promise<void> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', r));
    this.port = this.sock.address().port;
  }

  close(): void {
    this.sock.close();
  }

  send(text: string, to: string): void {
    const { address, port } = hostPort(to);
    this.sock.send(Buffer.from(text, 'latin1'), port, address);
  }

  private common(method: string, cseq: number, branch: string, toTag = this.toTag): string {
    return (
      `Via: SIP/2.0/UDP 127.0.0.1:${this.port};branch=${branch};rport\r\nMax-Forwards: 70\r\n` +
      `From: <sip:${this.name}@127.0.0.1:${this.port}>;tag=${this.tag}\r\n` +
      `To: <sip:${this.conf}@pop>${toTag ? `;tag=${toTag}` : ''}\r\nCall-ID: ${this.callId}\r\n` +
      `CSeq: ${cseq} ${method}\r\nContact: <sip:${this.name}@127.0.0.1:${this.port}>\r\n`
    );
  }

  private sdp(): string {
    return `v=0\r\no=uac 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${this.port + 1} RTP/AVP 0\r\n`;
  }

  /** Waits (retransmitting `resend` every 500 ms when given) for a message matching `pred`; bounded. */
  async next(what: string, pred: (m: Msg) => boolean, resend?: () => void, timeoutMs = 30_000): Promise<Msg> {
    let last = Date.now();
    return waitFor(
      `${this.name}: ${what}`,
      () => {
        const i = this.inbox.findIndex(pred);
        if (i >= 0) return this.inbox.splice(i, 1)[0];
        if (resend && Date.now() - last >= 500) {
          resend();
          last = Date.now();
        }
        return undefined;
      },
      { timeoutMs, intervalMs: 20 },
    );
  }

  /** INVITE through `entry` (a POP host's SIP address); the 200 is ACKed. Returns the 200. */
  async call(entry: string): Promise<Msg> {
    const sdp = this.sdp();
    const invite =
      `INVITE sip:${this.conf}@${entry} SIP/2.0\r\n${this.common('INVITE', 1, `z9hG4bK-${this.name}-i`, '')}` +
      `Content-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`;
    this.send(invite, entry);
    const ok = await this.next(
      '200 to its INVITE',
      (m) => m.first.startsWith('SIP/2.0 200') && h(m, 'cseq') === '1 INVITE',
      () => this.send(invite, entry),
    );
    this.toTag = /;tag=([^;>\s]+)/.exec(h(ok, 'to'))![1]!;
    this.remoteContact = /<([^>]+)>/.exec(h(ok, 'contact'))![1]!;
    const ack =
      `ACK ${this.remoteContact} SIP/2.0\r\n${this.common('ACK', 1, `z9hG4bK-${this.name}-a`)}` +
      `Content-Length: 0\r\n\r\n`;
    this.send(ack, entry);
    return ok;
  }

  /** Our 200 to a request of the worker (its Via, From, To, Call-ID, CSeq echoed; RFC 3261 §8.2.6.2). */
  ok(req: Msg): string {
    const sdp = this.sdp();
    const vias = req.headers.get('via') ?? [];
    return (
      `SIP/2.0 200 OK\r\n${vias.map((v) => `Via: ${v}\r\n`).join('')}From: ${h(req, 'from')}\r\n` +
      `To: ${h(req, 'to')}\r\nCall-ID: ${h(req, 'call-id')}\r\nCSeq: ${h(req, 'cseq')}\r\n` +
      `Contact: <sip:${this.name}@127.0.0.1:${this.port}>\r\nContent-Type: application/sdp\r\n` +
      `Content-Length: ${sdp.length}\r\n\r\n${sdp}`
    );
  }

  /** BYE to the worker's Contact (its owner token routes it), sent through `entry`; resolves with its response. */
  async bye(entry: string): Promise<Msg> {
    const seq = ++this.cseq;
    const bye =
      `BYE ${this.remoteContact} SIP/2.0\r\n${this.common('BYE', seq, `z9hG4bK-${this.name}-b${seq}`)}` +
      `Content-Length: 0\r\n\r\n`;
    this.send(bye, entry);
    return this.next(
      'response to its BYE',
      (m) => m.first.startsWith('SIP/2.0 ') && h(m, 'cseq') === `${seq} BYE`,
      () => this.send(bye, entry),
    );
  }
}

async function popEvent(control: string, event: string): Promise<number> {
  const text = await (await fetch(`${control}/metrics`)).text();
  const m = new RegExp(`sipdisp_pop_events\\{event="${event}"\\} (\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

interface MixerStats {
  id: string;
  detail: { conference: string; port: number }[];
}
async function mixerHolding(s: E2eStack, conf: string): Promise<MixerStats | undefined> {
  const all = await Promise.all(
    mixerUrls(s.cfg).map(
      async (u) =>
        (await fetch(`${u}/v1/stats`, { signal: AbortSignal.timeout(3000) })
          .then((r) => r.json())
          .catch(() => ({ id: u, detail: [] }))) as MixerStats,
    ),
  );
  return all.find((m) => m.detail.some((d) => d.conference === conf));
}

/**
 * The mover's re-INVITE reaches `uac`: its top Via and Contact name the owner (C14, C9), its SDP a new mixer.
 * `answerTo` is where the 200 goes; the owner's worker must ACK it (retransmitting the 200 until then, as a UAS does).
 */
async function takeReinvite(uac: RawUac, before: string, answerTo: string): Promise<Msg> {
  const reinvite = await uac.next(
    're-INVITE with the new mixer',
    (m) => m.first.startsWith('INVITE ') && h(m, 'call-id') === uac.callId,
    undefined,
    60_000,
  );
  expect(h(reinvite, 'via')).toMatch(/;sy-owner=[^;,\s]+/);
  expect(h(reinvite, 'contact')).toMatch(/;sy-owner=[^;>\s]+/);
  expect(sdpMedia(reinvite.body)).not.toBe(before);
  const ok = uac.ok(reinvite);
  uac.send(ok, answerTo);
  const seq = h(reinvite, 'cseq').split(' ')[0];
  await uac.next(
    `ACK of the re-INVITE's 200 sent to ${answerTo}`,
    (m) => m.first.startsWith('ACK ') && h(m, 'cseq') === `${seq} ACK`,
    () => uac.send(ok, answerTo),
  );
  // later in-dialog requests target the re-INVITE's Contact (a target refresh): the owner token routes them
  uac.remoteContact = /<([^>]+)>/.exec(h(reinvite, 'contact'))![1]!;
  return reinvite;
}

describe('re-INVITEs of the media mover across the POP (C14)', () => {
  let s: E2eStack;
  const uacs: RawUac[] = [];
  beforeAll(async () => {
    s = await startStack({ hosts: 3, mixers: 3 });
  }, 360_000); // components' readiness is bounded at 120 s each (startComposedStack): a loaded machine is slow
  afterAll(async () => {
    for (const u of uacs) u.close();
    await s?.stop();
  }, 30_000);

  const uac = async (name: string, conf: string) => {
    const u = new RawUac(name, conf);
    await u.open();
    uacs.push(u);
    return u;
  };
  /** A conference placed by the schedulers, claimed by its owner and known to every host before any participant calls. */
  const placed = async (conf: string) => {
    const hosts = hostsOf(s);
    const p = await placeConference(s.cfg, conf, 4);
    const owner = hosts.find((x) => x.id === p.serverId)!;
    // every host, not only the owner: a host that has not yet heard the claim would claim the conference itself
    // for a participant landing there, and keep that call (CI saw it: the 200 was then never routed by its Via)
    await waitClaimedEverywhere(hosts, conf, p.epoch);
    return { hosts, owner, others: hosts.filter((x) => x !== owner) };
  };

  it('a 200 to the re-INVITE sent to a non-owner host reaches the owner worker, which ACKs it; a forged Via token is refused and counted', async () => {
    const conf = `e2e-rv-${process.pid}`;
    const { owner, others } = await placed(conf);
    const [other1, other2] = others as [(typeof others)[0], (typeof others)[0]];
    const a = await uac('rva', conf);
    const ok = await a.call(other1.sip);
    // C9: the worker's Contact names the owner
    expect(h(ok, 'contact')).toMatch(/;sy-owner=/);
    const media = sdpMedia(ok.body);
    const holder = await waitFor(`the mixer holding ${conf}`, () => mixerHolding(s, conf), {
      timeoutMs: 30_000,
    });
    const routedBefore = await popEvent(other1.control, 'response_routed');
    s.sup.kill(holder.id, 'SIGKILL', { restart: false });
    try {
      await takeReinvite(a, media, other1.sip);
      expect(await popEvent(other1.control, 'response_routed')).toBeGreaterThan(routedBefore);
      // a response whose top Via token is forged: refused, counted, not forwarded (it is a stray there)
      const refusedBefore = await popEvent(other2.control, 'response_refused');
      const forged = a.ok(
        parse(
          `INVITE x SIP/2.0\r\nVia: SIP/2.0/UDP ${owner.sip};branch=z9hG4bK-f;sy-owner=${owner.id}.1.AAAAAAAAAAAAAAAAAAAAAA\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>;tag=2\r\nCall-ID: ${a.callId}\r\nCSeq: 99 INVITE\r\n\r\n`,
        ),
      );
      a.send(forged, other2.sip);
      await waitFor(
        'the forged response counted',
        async () => (await popEvent(other2.control, 'response_refused')) > refusedBefore,
        { timeoutMs: 10_000 },
      );
      // the dialog goes on: a BYE through the other non-owner reaches the owner by the Contact's token
      const bye = await a.bye(other2.sip);
      expect(bye.first).toBe('SIP/2.0 200 OK');
    } catch (err) {
      const n = owner.id.slice(owner.id.lastIndexOf('host') + 4);
      throw new Error(`${String(err)}\n${logTail(s, `dispatcher-${n}`, /mixer|INVITE|media|move/)}`);
    } finally {
      await s.sup.revive(holder.id);
    }
  }, 240_000);

  it('dialogs adopted from a worker killed with -9 are re-INVITEd when their mixer dies later; 0 failed', async () => {
    const conf = `e2e-rvh-${process.pid}`;
    const { owner, others } = await placed(conf);
    const other = others[0]!;
    const parts = [await uac('rvh1', conf), await uac('rvh2', conf)];
    const media: string[] = [];
    for (const p of parts) media.push(sdpMedia((await p.call(owner.sip)).body));
    const auth = { authorization: `Bearer ${s.cfg.token}` };
    type Workers = { workers: { id: string; pid?: number; state?: { conferences: { id: string }[] } }[] };
    const workers = async () =>
      ((await (await fetch(`${owner.control}/workers`, { headers: auth })).json()) as Workers).workers;
    const dead = await waitFor(
      `the worker holding ${conf}`,
      async () => (await workers()).find((w) => w.state?.conferences.some((c) => c.id === conf) && w.pid),
      { timeoutMs: 30_000 },
    );
    process.kill(dead.pid!, 'SIGKILL');
    // the replacement adopted both dialogs (the primary's mirror): it lists the conference with 2 participants
    await waitFor(
      `a new worker holding ${conf}'s 2 dialogs`,
      async () => {
        const r = await fetch(`${owner.control}/conferences/${conf}`, { headers: auth });
        if (!r.ok) return undefined;
        const body = (await r.json()) as { holders: { worker: string; participants: number }[] };
        const heirs = body.holders.filter((x) => x.worker !== dead.id);
        return heirs.reduce((n, x) => n + x.participants, 0) >= 2 || undefined;
      },
      { timeoutMs: 60_000 },
    );
    const holder = await waitFor(`the mixer holding ${conf}`, () => mixerHolding(s, conf), {
      timeoutMs: 30_000,
    });
    s.sup.kill(holder.id, 'SIGKILL', { restart: false });
    try {
      // one answers through a non-owner host (C14), the other to the owner directly
      await Promise.all([
        takeReinvite(parts[0]!, media[0]!, other.sip),
        takeReinvite(parts[1]!, media[1]!, owner.sip),
      ]);
      for (const p of parts) expect((await p.bye(other.sip)).first).toBe('SIP/2.0 200 OK');
    } catch (err) {
      const n = owner.id.slice(owner.id.lastIndexOf('host') + 4);
      throw new Error(`${String(err)}\n${logTail(s, `dispatcher-${n}`, /mixer|INVITE|media|move|adopt/)}`);
    } finally {
      await s.sup.revive(holder.id);
    }
  }, 240_000);
});
