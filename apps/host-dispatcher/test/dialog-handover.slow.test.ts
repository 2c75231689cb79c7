/**
 * Issue 9 §6, end to end with real processes: `kill -9` of the worker holding established dialogs in the middle of a
 * SIPp run loses no call. Every call of the run is INVITE / ACK, a pause (the kill lands in it), then re-INVITE /
 * ACK, OPTIONS in the dialog and BYE: the spare promoted for the dead worker must answer all of them for the
 * dialogs it adopted from the primary's mirror. Asserted with SIPp's own counts: 0 failed calls.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinScenario, runSipp, waitFor } from '@switchyard/testing';
import { startDispatcher, type RunningDispatcher } from './harness.js';

/** Bounded load: 150 calls at 15 calls/s, each 6 s long, so ~90 dialogs are up when the worker is killed. */
const CALLS = 150;
const RATE = 15;
const CALL_LENGTH_MS = 6_000;

/** In-dialog requests after the pause: re-INVITE (+ ACK), OPTIONS, then the built-in scenario's BYE. */
const IN_DIALOG = `
  <send retrans="500">
    <![CDATA[
      INVITE sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [field0] <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
    ]]>
  </send>
  <recv response="200"></recv>
  <send>
    <![CDATA[
      ACK sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [field0] <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 ACK
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <send retrans="500">
    <![CDATA[
      OPTIONS sip:[field0]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: [field0] <sip:[field0]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 3 OPTIONS
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"></recv>
`;

/** The built-in uac with the conference from the injection file, the in-dialog requests, and BYE as CSeq 4. */
function scenario(dir: string): string {
  const xml = builtinScenario('uac')
    .replaceAll('[service]', '[field0]')
    .replace('CSeq: 2 BYE', 'CSeq: 4 BYE')
    .replace(/<pause\s*\/>/, (p) => `${p}\n${IN_DIALOG}`);
  if (!xml.includes('CSeq: 4 BYE') || !xml.includes('CSeq: 3 OPTIONS'))
    throw new Error('the built-in uac scenario changed shape');
  const file = path.join(dir, 'uac-in-dialog.xml');
  fs.writeFileSync(file, xml);
  return file;
}

describe('kill -9 of a worker holding established dialogs', () => {
  let d: RunningDispatcher;
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'disp-handover-'));
    d = await startDispatcher({ minWorkers: 2, maxWorkers: 2 });
  });
  afterAll(async () => {
    await d?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('loses no call: the promoted spare answers re-INVITE, ACK, OPTIONS and BYE of the adopted dialogs', async () => {
    const conferences = Array.from({ length: 12 }, (_, i) => `conf-h${i}`);
    const inf = path.join(dir, 'conferences.csv');
    fs.writeFileSync(inf, ['SEQUENTIAL', ...conferences].join('\n') + '\n');
    const run = runSipp({
      target: d.target,
      scenario: scenario(dir),
      args: ['-inf', inf],
      calls: CALLS,
      rate: RATE,
      limit: 200,
      callLengthMs: CALL_LENGTH_MS,
      timeoutS: 90,
    });
    // wait until the victim holds established dialogs (and the primary mirrors them)
    const victim = await waitFor(
      'w1 holding 20 dialogs',
      async () => {
        const w = (await d.workers()).find((x) => x.id === 'w1');
        return w && (w.state?.dialogs ?? 0) >= 20 && w;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    const heldAtKill = victim.state!.dialogs;
    const conferencesAtKill = victim.state!.conferences.map((c) => c.id);
    process.kill(victim.pid, 'SIGKILL');
    const heir = await waitFor(
      'the spare promoted for the killed worker, holding its conferences',
      async () => {
        const ws = await d.workers();
        const w3 = ws.find((w) => w.id === 'w3');
        return (
          !ws.some((w) => w.pid === victim.pid) &&
          w3?.status === 'ready' &&
          (w3.state?.dialogs ?? 0) > 0 &&
          w3
        );
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    // the conference → worker affinity moved whole: the heir hosts every conference the dead worker hosted
    const hosted = new Set(heir.state!.conferences.map((c) => c.id));
    for (const c of conferencesAtKill) expect(hosted.has(c), `conference ${c} on the heir`).toBe(true);
    const r = await run;
    expect(r.failed, r.diagnostics).toBe(0);
    expect(r.successful, r.diagnostics).toBe(CALLS);
    expect(r.unexpected, r.diagnostics).toBe(0);
    expect(await d.metric('sipdisp_dialogs_handed_over_total')).toBeGreaterThanOrEqual(heldAtKill - 5);
    expect(await d.metric('sipdisp_worker_restarts_total')).toBe(1);
    expect(await d.metric('sipdisp_affinity_violations_total')).toBe(0);
    // every adopted dialog ended by its BYE: nothing is left anywhere, nor in the mirror
    await waitFor('no dialog left', async () => {
      const ws = await d.workers();
      return (
        ws.every((w) => (w.state?.dialogs ?? 0) === 0) && (await d.metric('sipdisp_dialogs_mirrored')) === 0
      );
    });
  }, 150_000);
});
