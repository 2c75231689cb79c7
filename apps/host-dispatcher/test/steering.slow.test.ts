/**
 * Kernel steering end to end, real processes and sockets: after delegation a peer's datagrams reach its worker
 * without the primary (its datagram counter stands still while the worker's grows); a second conference from the
 * same peer is bounced and the peer undelegated with affinity intact; after kill -9 of the worker the peer's next
 * datagrams reach the primary and another worker; a drain revokes the delegation.
 */
import dgram from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';
import { invite } from './sip-fixtures.js';

/** A SIP peer on one source port: sends requests, waits for their final responses. */
class Peer {
  private seq = 0;
  private readonly waiting = new Map<string, (res: string) => void>();
  private constructor(
    readonly sock: dgram.Socket,
    private readonly port: number,
  ) {
    sock.on('message', (m) => {
      const text = m.toString('latin1');
      const status = Number(/^SIP\/2\.0 (\d{3})/.exec(text)?.[1] ?? 0);
      const key = `${/Call-ID: (\S+)/i.exec(text)?.[1]} ${/CSeq: (\d+ \w+)/i.exec(text)?.[1]}`;
      if (status >= 200) this.waiting.get(key)?.(text);
    });
  }

  static async open(port: number): Promise<Peer> {
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return new Peer(sock, port);
  }

  /** Sends one request and resolves with its final response (undefined after `timeoutMs`). */
  request(o: Parameters<typeof invite>[0], timeoutMs = 5_000): Promise<string | undefined> {
    const method = o?.method ?? 'INVITE';
    const cseq = o?.cseq ?? 1;
    const key = `${o?.callId} ${cseq} ${method}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(key, (res) => {
        clearTimeout(timer);
        this.waiting.delete(key);
        resolve(res);
      });
      this.send({ ...o, branch: `z9hG4bK-p${this.seq++}` });
    });
  }

  send(o: Parameters<typeof invite>[0]): void {
    this.sock.send(invite({ branch: `z9hG4bK-s${this.seq++}`, ...o }), this.port, '127.0.0.1');
  }

  private readonly dialogs = new Map<string, { conf: string; toTag: string; cseq: number }>();

  /** INVITE → 200 → ACK: a dialog in `conf`. */
  async call(conf: string, callId: string): Promise<void> {
    const res = await this.request({ conf, callId });
    expect(res, `INVITE ${callId} answered`).toMatch(/^SIP\/2\.0 200/);
    const toTag = /^To:.*;tag=([^;\s]+)/im.exec(res!)![1]!;
    this.send({ method: 'ACK', conf, callId, toTag, body: '' });
    this.dialogs.set(callId, { conf, toTag, cseq: 1 });
  }

  /** An INFO in the dialog of `callId` (answered 200 by the worker that holds the dialog). */
  async info(callId: string, timeoutMs?: number): Promise<string | undefined> {
    const d = this.dialogs.get(callId)!;
    d.cseq++;
    return this.request(
      { method: 'INFO', conf: d.conf, callId, toTag: d.toTag, cseq: d.cseq, body: '' },
      timeoutMs,
    );
  }

  close(): void {
    this.sock.close();
  }
}

describe('kernel steering (on by default)', () => {
  let d: RunningDispatcher;
  let peer: Peer;
  beforeAll(async () => {
    // no flag: steering is on by default
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2 });
    peer = await Peer.open(d.sipPort);
  });
  afterAll(async () => {
    peer?.close();
    await d?.stop();
  });

  const event = (e: string) => d.metric('sipdisp_steering_events_total', { event: e });
  const holder = async (conf: string) => {
    const ws = (await d.workers()).filter((w) => w.state?.conferences.some((c) => c.id === conf));
    expect(
      ws.map((w) => w.id),
      `one worker holds ${conf}`,
    ).toHaveLength(1);
    return ws[0]!;
  };
  /** In-dialog requests one at a time until the peer is delegated (bounded). */
  const delegate = async (callId: string, times: number) => {
    await waitFor(
      `peer delegated (${times})`,
      async () => {
        expect(await peer.info(callId)).toMatch(/^SIP\/2\.0 200/);
        return (await event('delegated')) >= times && (await d.metric('sipdisp_steering_delegations')) === 1;
      },
      { timeoutMs: 20_000, intervalMs: 1 },
    );
  };

  it("delivers a delegated peer's datagrams to its worker without the primary", async () => {
    await peer.call('conf-a', 'a1');
    await delegate('a1', 1);
    const w = await holder('conf-a');
    const primaryBefore = await d.metric('sipdisp_datagrams_total');
    for (let i = 0; i < 20; i++) expect(await peer.info('a1')).toMatch(/^SIP\/2\.0 200/);
    const after = (await d.workers()).find((x) => x.id === w.id)!;
    expect(await d.metric('sipdisp_datagrams_total')).toBe(primaryBefore);
    expect(after.state!.requests - w.state!.requests).toBe(20);
    expect(after.state!.steering?.local).toBeGreaterThanOrEqual(20);
  });

  it('bounces a new call of the same conference to the primary (admission) and keeps the delegation', async () => {
    const primaryBefore = await d.metric('sipdisp_datagrams_total');
    const bouncedBefore = await d.metric('sipdisp_steering_bounced_datagrams_total');
    await peer.call('conf-a', 'a2');
    expect(await d.metric('sipdisp_steering_bounced_datagrams_total')).toBe(bouncedBefore + 1);
    // only the INVITE went through the primary; its ACK reached the worker directly
    await waitFor('ACK handled', async () => (await holder('conf-a')).state!.dialogs === 2);
    expect(await d.metric('sipdisp_datagrams_total')).toBe(primaryBefore + 1);
    expect(await d.metric('sipdisp_steering_delegations')).toBe(1);
  });

  it('bounces a second conference from the same peer and undelegates it, affinity intact', async () => {
    await peer.call('conf-b', 'b1');
    expect(await event('bounced')).toBe(1);
    expect(await d.metric('sipdisp_steering_delegations')).toBe(0);
    // the peer's datagrams reach the primary again
    const primaryBefore = await d.metric('sipdisp_datagrams_total');
    expect(await peer.info('a1')).toMatch(/^SIP\/2\.0 200/);
    expect(await d.metric('sipdisp_datagrams_total')).toBe(primaryBefore + 1);
    await waitFor('both calls of conf-a and the conf-b call held', async () => {
      const ws = await d.workers();
      return ws.reduce((s, w) => s + (w.state?.dialogs ?? 0), 0) === 3;
    });
    expect((await holder('conf-a')).state!.conferences.find((c) => c.id === 'conf-a')?.participants).toBe(2);
    await holder('conf-b');
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
  });

  it("after kill -9 of the worker, the peer's datagrams reach the primary and another worker", async () => {
    await delegate('a1', 2);
    const victim = await holder('conf-a');
    process.kill(victim.pid, 'SIGKILL');
    await waitFor('the killed worker forgotten', async () => (await event('worker-gone')) === 1, {
      timeoutMs: 20_000,
      intervalMs: 20,
    });
    const primaryBefore = await d.metric('sipdisp_datagrams_total');
    // the kernel closed the worker's sockets at its exit: the service socket gets the peer again
    const res = await waitFor('an OPTIONS answered after the kill', async () => peer.info('a1', 1_000), {
      timeoutMs: 20_000,
      intervalMs: 1,
    });
    expect(res).toMatch(/^SIP\/2\.0 200/);
    expect(await d.metric('sipdisp_datagrams_total')).toBeGreaterThan(primaryBefore);
    const ws = await d.workers();
    expect(ws.some((w) => w.pid === victim.pid)).toBe(false);
    // the dialogs of conf-a were adopted by the promoted spare: it holds the conference now
    const now = await holder('conf-a');
    expect(now.id).not.toBe(victim.id);
    expect(await d.metric('sipdisp_steering_delegations')).toBe(0);
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
  });

  it('revokes the delegations of a worker that drains: the peer goes back through the primary', async () => {
    // the heir of the killed worker holds the dialog now: the peer is delegated to it
    await delegate('a1', 3);
    const heir = await holder('conf-a');
    expect((await d.post(`/workers/${heir.id}/drain`)).status).toBe(200);
    await waitFor('delegation revoked', async () => (await event('revoked')) === 1);
    expect(await d.metric('sipdisp_steering_delegations')).toBe(0);
    // the draining worker keeps its dialogs; their requests reach it through the primary again
    const primaryBefore = await d.metric('sipdisp_datagrams_total');
    expect(await peer.info('a1')).toMatch(/^SIP\/2\.0 200/);
    expect(await d.metric('sipdisp_datagrams_total')).toBe(primaryBefore + 1);
  });

  it('loses nothing across an undelegation: every request of a burst sent around it is answered', async () => {
    const p2 = await Peer.open(d.sipPort);
    try {
      const delegatedBefore = await event('delegated');
      await p2.call('conf-d', 'd1');
      await waitFor(
        'the second peer delegated',
        async () => {
          expect(await p2.info('d1')).toMatch(/^SIP\/2\.0 200/);
          return (await event('delegated')) > delegatedBefore;
        },
        { timeoutMs: 20_000, intervalMs: 1 },
      );
      const bouncedBefore = await event('bounced');
      // sent in one go: the 6th (another conference) makes the worker close its connected socket while the rest of
      // the burst is queued in it or arriving; a plain close() would drop those, the drain hands them to the primary
      const burst = Array.from({ length: 60 }, (_, i) =>
        p2.request(
          i === 5
            ? { method: 'OPTIONS', conf: 'conf-e', callId: 'e-burst' }
            : { method: 'OPTIONS', conf: 'conf-d', callId: `d-burst-${i}` },
        ),
      );
      const answers = await Promise.all(burst);
      expect(answers.filter((a) => a === undefined)).toHaveLength(0);
      expect(answers.every((a) => /^SIP\/2\.0 200/.test(a!))).toBe(true);
      expect(await event('bounced')).toBe(bouncedBefore + 1);
      expect(await d.metric('sipdisp_steering_delegations')).toBe(0);
      expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
    } finally {
      p2.close();
    }
  });
});
