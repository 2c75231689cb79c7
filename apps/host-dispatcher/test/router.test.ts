import { describe, expect, it } from 'vitest';
import { extractSipKeys, type SipKeys } from '@switchyard/affinity';
import { ManualClock } from '@switchyard/core';
import { AffinityRouter } from '../src/index.js';
import { invite } from './sip-fixtures.js';

function keys(raw: Buffer): SipKeys {
  const r = extractSipKeys(raw);
  if (!r.ok) throw new Error(`fixture has no keys: ${r.reason}`);
  return r.keys;
}

function setup() {
  const clock = new ManualClock();
  const router = new AffinityRouter({ clock }, { idleTtlMs: 32_000, loadThreshold: 3 });
  router.workerUp('w1');
  router.workerUp('w2');
  return { clock, router };
}

const worker = (d: ReturnType<AffinityRouter['route']>) => (d.kind === 'worker' ? d.worker : d.reason);

describe('AffinityRouter', () => {
  it('sends a conference to one worker, new conferences to the least loaded, and every message of a call along', () => {
    const { router } = setup();
    const a = worker(router.route(keys(invite({ callId: 'c1', conf: 'conf-7' }))));
    const b = worker(router.route(keys(invite({ callId: 'c2', conf: 'conf-8' }))));
    expect(new Set([a, b]).size).toBe(2);
    // another participant of conf-7 from another client
    expect(worker(router.route(keys(invite({ callId: 'c3', conf: 'conf-7', fromTag: 'x' }))))).toBe(a);
    // ACK, BYE, CANCEL and re-INVITE of c1 follow the Call-ID
    expect(worker(router.route(keys(invite({ callId: 'c1', method: 'ACK', toTag: 't', body: '' }))))).toBe(a);
    expect(worker(router.route(keys(invite({ callId: 'c1', method: 'BYE', toTag: 't', body: '' }))))).toBe(a);
    expect(worker(router.route(keys(invite({ callId: 'c1', method: 'CANCEL', body: '' }))))).toBe(a);
    // responses and ACKs with no binding are strays
    expect(router.route(keys(Buffer.from('SIP/2.0 200 OK\r\nCall-ID: zz\r\nCSeq: 1 BYE\r\n\r\n')))).toEqual({
      kind: 'drop',
      reason: 'stray',
    });
    expect(router.route(keys(invite({ callId: 'nope', method: 'ACK', toTag: 't', body: '' })))).toEqual({
      kind: 'drop',
      reason: 'stray',
    });
  });

  it('holds bindings while dialogs last, then lets them expire after the idle TTL', () => {
    const { clock, router } = setup();
    const w = worker(router.route(keys(invite({ callId: 'c1', conf: 'conf-7' }))));
    expect(router.dialogOpened(w, 'c1', 'conf-7')).toBeUndefined();
    clock.advance(60_000);
    expect(router.conferences.lookup('conf-7')).toBe(w);
    expect(router.calls.lookup('c1')).toBe(w);
    router.dialogClosed(w, 'c1', 'conf-7');
    clock.advance(31_000);
    expect(router.conferences.get('conf-7')?.owner).toBe(w);
    clock.advance(2_000);
    expect(router.conferences.get('conf-7')).toBeUndefined();
    expect(router.calls.get('c1')).toBeUndefined();
    expect(router.loadOf(w)).toBe(0);
  });

  it('drops a dead worker’s bindings so its conferences are re-homed; draining workers get no new conferences', () => {
    const { router } = setup();
    const w = worker(router.route(keys(invite({ callId: 'c1', conf: 'conf-7' }))));
    const other = w === 'w1' ? 'w2' : 'w1';
    router.dialogOpened(w, 'c1', 'conf-7');
    expect(router.workerDown(w)).toEqual({ calls: 1, conferences: 1 });
    expect(worker(router.route(keys(invite({ callId: 'c2', conf: 'conf-7' }))))).toBe(other);
    // the old dialog's BYE finds no binding: it goes to a live worker (which answers 481)
    expect(worker(router.route(keys(invite({ callId: 'c1', method: 'BYE', toTag: 't', body: '' }))))).toBe(
      other,
    );
    router.workerDraining(other);
    expect(router.route(keys(invite({ callId: 'c3', conf: 'conf-9' })))).toEqual({
      kind: 'drop',
      reason: 'no-worker',
    });
    // but the draining worker keeps its conference
    expect(worker(router.route(keys(invite({ callId: 'c4', conf: 'conf-7' }))))).toBe(other);
  });

  it('reports a violation when two workers claim one conference or dialog', () => {
    const { router } = setup();
    expect(router.dialogOpened('w1', 'c1', 'conf-7')).toBeUndefined();
    expect(router.dialogOpened('w2', 'c2', 'conf-7')).toEqual({
      kind: 'conference',
      key: 'conf-7',
      owner: 'w1',
      reporter: 'w2',
    });
    expect(router.noDialog('w2', 'c1')).toEqual({ kind: 'dialog', key: 'c1', owner: 'w1', reporter: 'w2' });
    expect(router.noDialog('w1', 'c-unknown')).toBeUndefined();
  });

  it('says when every worker is above the load threshold', () => {
    const { router } = setup();
    for (let i = 0; i < 5; i++) router.route(keys(invite({ callId: `c${i}`, conf: `conf-${i}` })));
    expect(router.allAboveThreshold()).toBe(false);
    router.route(keys(invite({ callId: 'c5', conf: 'conf-5' })));
    expect(router.allAboveThreshold()).toBe(true);
  });
});
