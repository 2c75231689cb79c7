/**
 * The registration endpoint over real TCP, time driven by a ManualClock: bad token, malformed hello and record,
 * oversized frames, a flood, silence past the deadline, a closed connection. Each bad connection is refused with a
 * reject frame naming its code and counted; containers already registered are unaffected.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '@switchyard/core';
import { decodeReply, splitFirstFrame } from '@switchyard/container-link';
import { encodeFrame } from '@switchyard/registry';
import { waitFor } from '@switchyard/testing';
import type { BalancerApp } from '../src/index.js';
import { hb, hello, rawConnection, record, startBalancer } from './helpers/start.js';

function replyOf(buf: Buffer): { k: string; code?: string; message?: string } {
  const f = splitFirstFrame(buf, 4096);
  if (!f) throw new Error('no reply frame');
  return decodeReply(f.body);
}

describe('registration endpoint', () => {
  let clock: ManualClock;
  let b: BalancerApp;
  let port: number;
  const open: net.Socket[] = [];
  const connect = (frames: Buffer[]) => {
    const c = rawConnection(port, frames);
    open.push(c.sock);
    return c;
  };
  /** A well-behaved container that stays registered (its heartbeats are sent by the test). */
  const good = async (id: string, load = 0) => {
    const c = connect([hello(), hb(record(id, { load }))]);
    await waitFor(`${id} welcomed`, () => c.received().length > 0 && replyOf(c.received()).k === 'welcome');
    let seq = 1;
    return { ...c, beat: (over = {}) => c.sock.write(hb(record(id, { load, ...over }), seq++)) };
  };
  const rejected = (code: string) => b.registration.rejectedCounts.get(code as never) ?? 0;

  const setup = async (over: Record<string, unknown> = {}) => {
    clock = new ManualClock();
    b = await startBalancer(clock, {
      deadlineMs: 1500,
      checkEveryMs: 250,
      helloTimeoutMs: 2000,
      maxFrameBytes: 1024,
      ...over,
    });
    port = b.registrationAddress().port;
  };
  afterEach(async () => {
    for (const s of open.splice(0)) s.destroy();
    await b.stop();
  });

  it('refuses a bad token, a malformed hello, a malformed record and an oversized frame, each by code', async () => {
    await setup();
    const keep = await good('keep');
    const cases: Array<[string, Buffer[]]> = [
      ['BAL_ERR_UNAUTHORIZED', [hello('wrong-token'), hb(record('x1'))]],
      ['BAL_ERR_BAD_REGISTRATION', [Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1])]], // not msgpack
      ['BAL_ERR_BAD_REGISTRATION', [hello(), hb(record('x2', { capacity: 0 }))]],
      ['BAL_ERR_BAD_REGISTRATION', [hello(), hb(record('x3', { service: 'Bad Service!' }))]],
      ['BAL_ERR_BAD_REGISTRATION', [hello(), hb(record('x4', { address: 'no-port' }))]],
      ['BAL_ERR_BAD_REGISTRATION', [hello(), encodeFrame({ v: 1, k: 'delta', seq: 0, patch: { load: 1 } })]],
      ['BAL_ERR_FRAME_TOO_LARGE', [Buffer.from([0, 1, 0, 0])]], // 65,536 > 1,024
      [
        'BAL_ERR_FRAME_TOO_LARGE',
        [hello(), hb(record('x5', { meta: { mode: 'direct', pad: 'p'.repeat(2000) } }))],
      ],
      ['BAL_ERR_DUPLICATE_ID', [hello(), hb(record('keep'))]],
    ];
    for (const [code, frames] of cases) {
      const before = rejected(code);
      const c = connect(frames);
      await c.closed;
      expect(replyOf(c.received())).toMatchObject({ k: 'reject', code });
      expect(rejected(code)).toBe(before + 1);
    }
    expect(b.table.services()[0]!.containers.map((c) => c.id)).toEqual(['keep']);
    expect(keep.sock.destroyed).toBe(false);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/balancer_registrations_rejected_total\{code="BAL_ERR_UNAUTHORIZED"\} 1/);
  });

  it('takes meta.pipelining 1 to 128 as the container declares it; refuses anything else, naming the field', async () => {
    await setup();
    const declared = connect([hello(), hb(record('p16', { meta: { mode: 'direct', pipelining: '16' } }))]);
    await waitFor('p16 welcomed', () => declared.received().length > 0);
    expect(replyOf(declared.received()).k).toBe('welcome');
    expect(b.table.get('p16')?.pipelining).toBe(16);
    await good('plain');
    expect(b.table.get('plain')?.pipelining).toBeNull(); // not declared: the balancer's flag applies
    for (const bad of ['0', '129', '4x', '', '08', '1e2']) {
      const c = connect([hello(), hb(record(`bad${bad}`, { meta: { mode: 'direct', pipelining: bad } }))]);
      await c.closed;
      expect(replyOf(c.received())).toMatchObject({
        k: 'reject',
        code: 'BAL_ERR_BAD_REGISTRATION',
        message: expect.stringContaining('meta.pipelining') as unknown,
      });
    }
    expect(
      b.table
        .services()[0]!
        .containers.map((c) => c.id)
        .sort(),
    ).toEqual(['p16', 'plain']);
  });

  it('refuses a flood of registrations beyond the burst; the registered container keeps serving', async () => {
    await setup({ registrationBurst: 5, registrationsPerSecond: 1 });
    const keep = await good('keep'); // uses 1 of the burst of 5
    const flood = Array.from({ length: 20 }, (_, i) => connect([hello(), hb(record(`f${i}`))]));
    await Promise.all(
      flood.map((c) =>
        waitFor('a reply', () => c.received().length >= 4 && splitFirstFrame(c.received(), 4096)),
      ),
    );
    const replies = flood.map((c) => replyOf(c.received()));
    expect(replies.filter((r) => r.k === 'welcome')).toHaveLength(4);
    expect(replies.filter((r) => r.code === 'BAL_ERR_REGISTRATION_LIMIT')).toHaveLength(16);
    expect(rejected('BAL_ERR_REGISTRATION_LIMIT')).toBe(16);
    expect(b.table.get('keep')).toBeDefined();
    expect(keep.sock.destroyed).toBe(false);
    // a second later the bucket holds one token again (and 'keep' is well inside its deadline)
    clock.advance(1000);
    expect(b.table.get('keep')).toBeDefined();
    const late = await good('late');
    expect(late.sock.destroyed).toBe(false);
  });

  it('drops a container silent past the deadline, keeps one that beats, and closes a silent hello', async () => {
    await setup();
    const mute = connect([]); // never says hello
    await waitFor('mute accepted', () => b.registration.pendingCount === 1);
    const silent = await good('silent');
    const alive = await good('alive');
    // each beat carries a new load, so the test can see the balancer has read it before time moves on
    const beat = async (load: number) => {
      alive.beat({ load });
      await waitFor('beat read', () => b.table.get('alive')?.reportedLoad === load);
    };
    for (let t = 0; t < 1500; t += 250) {
      await beat(t + 1);
      clock.advance(250);
    }
    expect(b.table.get('silent')).toBeDefined(); // exactly at the deadline: not yet
    await beat(9999);
    clock.advance(250);
    expect(b.table.get('silent')).toBeUndefined();
    expect(b.table.get('alive')).toBeDefined();
    await silent.closed;
    clock.advance(250); // 2,000 ms since the mute connection opened
    await mute.closed;
    expect(replyOf(mute.received())).toMatchObject({ k: 'reject', code: 'BAL_ERR_HELLO_TIMEOUT' });
  });

  it('drops a container the moment its connection closes, and takes its load deltas at once', async () => {
    await setup();
    const a = await good('a', 0);
    const c = await good('c', 0);
    expect(b.table.pick('mixer')?.id).toBe('c'); // newest at the head on a tie
    c.sock.write(encodeFrame({ v: 1, k: 'delta', seq: 99, patch: { load: 5 } }));
    await waitFor('delta applied', () => b.table.get('c')?.reportedLoad === 5);
    expect(b.table.pick('mixer')?.id).toBe('a');
    a.sock.destroy();
    await waitFor('a dropped on close', () => b.table.get('a') === undefined);
    expect(b.table.pick('mixer')?.id).toBe('c');
  });
});
