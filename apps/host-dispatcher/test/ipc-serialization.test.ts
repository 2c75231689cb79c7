/**
 * The worker IPC channel's serialization (JSON, `IPC_SERIALIZATION`) carries every message type unchanged, through a
 * real forked process with the same channel options the pool uses. A field that JSON cannot carry (a Buffer, a Map,
 * a BigInt, a meaningful undefined) added to a message would make its round trip differ here.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@switchyard/testing';
import { IPC_SERIALIZATION, handedOffBytes, tcpHandoff, type FromWorker, type ToWorker } from '../src/ipc.js';
import type { DialogState } from '../src/worker/dialog-state.js';

const dialog: DialogState = {
  callId: 'c1@h',
  localTag: 'lt',
  remoteTag: 'rt',
  remoteUri: '"Zoë" <sip:z@h>',
  localUri: '<sip:conf-1@h>',
  remoteTarget: 'sip:z@198.18.0.1:5080;transport=tcp',
  routeSet: ['<sip:p1@h;lr>', '<sip:p2@h;lr>'],
  inviteCSeq: 1,
  remoteCSeq: 2,
  localCSeq: 0,
  conferenceId: 'conf-1',
  peer: { transport: 'tcp', address: '::1', port: 5080, local: 1 },
  confirmed: false,
  media: { address: '127.0.0.1', port: 40000, containerId: 'm1' },
  answer: 'SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n',
  offerMedia: 'm=audio 6000 RTP/AVP 0 8',
};

/** One of each message type, both directions (the TCP hand-off's bytes: every byte value). */
const every256 = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const messages: (ToWorker | FromWorker)[] = [
  {
    t: 'init',
    id: 'w1',
    seqpacketPath: '/tmp/x.sock',
    locals: [{ address: '127.0.0.1', port: 5060 }],
    uas: { t1Ms: 500, ringing: true, maxDialogs: 20_000 },
    maxMessageBytes: 65_535,
    tcpIdleMs: 120_000,
    statsIntervalMs: 1000,
    steering: { maxPerWorker: 10, idleMs: 1000, idleSweepMs: 100, drainMs: 50 },
  },
  { t: 'udp', local: 0 },
  tcpHandoff(2, every256),
  { t: 'drain' },
  { t: 'query', q: 7 },
  { t: 'violation', kind: 'dialog', key: 'k', owner: 'w2' },
  { t: 'owner-token', token: null },
  { t: 'owner-token', token: 'h1.abc' },
  { t: 'steer', local: 0, address: '127.0.0.1', port: 5080, gen: 3 },
  { t: 'unsteer', local: 0, address: '127.0.0.1', port: 5080, gen: 3 },
  { t: 'ready' },
  { t: 'open', callId: 'c1@h', conf: 'conf-1', d: dialog, adopted: true },
  { t: 'close', callId: 'c1@h', conf: 'conf-1', key: 'c1@h;lt;rt' },
  { t: 'mirror', put: [dialog, { ...dialog, callId: 'c2@h', confirmed: true }] },
  {
    t: 'state',
    q: 7,
    state: {
      id: 'w1',
      pid: 42,
      dialogs: 1,
      transactions: 0,
      conferences: [{ id: 'conf-1', participants: 1 }],
      callIds: ['c1@h'],
      violations: 0,
      malformed: 0,
      tcpConnections: 2,
      requests: 9,
      retransmissionsAbsorbed: 0,
      draining: false,
      steering: { sockets: 1, local: 2, bounced: 0, undelegated: 0 },
    },
  },
  { t: 'no-dialog', callId: 'c3@h' },
  { t: 'malformed', reason: 'bad-header' },
  {
    t: 'mover',
    c: {
      lost: 1,
      moved: 1,
      allocationFailures: 0,
      reinvites: 2,
      reinvitesOk: 2,
      reinvitesFailed: 0,
      dialogsEnded: 0,
      checkFailures: 0,
    },
  },
  { t: 'steered', local: 0, address: '127.0.0.1', port: 5080, gen: 3, ok: false, reason: 'idle' },
];

describe('worker IPC serialization', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'dtcp2-ipc-'));
    // echoes every message back: what arrives in the parent went through the channel twice
    writeFileSync(path.join(dir, 'echo.mjs'), "process.on('message', (m) => process.send(m));\n");
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is JSON', () => expect(IPC_SERIALIZATION).toBe('json'));

  it('carries every message type unchanged through a real child process, the hand-off bytes byte for byte', async () => {
    const child = fork(path.join(dir, 'echo.mjs'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: IPC_SERIALIZATION,
      execArgv: [],
    });
    try {
      const back: unknown[] = [];
      child.on('message', (m) => back.push(m));
      for (const m of messages) child.send(m);
      await waitFor(`${messages.length} messages echoed`, () =>
        back.length === messages.length ? true : undefined,
      );
      expect(back).toEqual(messages);
      const tcp = back.find((m): m is Extract<ToWorker, { t: 'tcp' }> => (m as ToWorker).t === 'tcp')!;
      expect(handedOffBytes(tcp).equals(every256)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
