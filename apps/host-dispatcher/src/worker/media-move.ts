/**
 * A conference's mixer died: give it a new one and move its participants there (issue 13, step 6).
 *
 * Detection: every `mediaCheckMs` the worker reads the balancer's container list (`GET /v1/services`, contract C4:
 * one request per worker per period, whatever the number of conferences). A conference whose container is no longer
 * listed, or is listed with another `registeredAt` (it died and came back under the same id, its allocations
 * gone), has lost its mixer. Bound: the balancer drops a container whose link closed at once (kill -9 closes the
 * TCP connection) or after its missed heartbeats; the worker notices within one `mediaCheckMs` after that.
 *
 * Recovery: the worker forgets the cached allocation and allocates again with the same key (the balancer's sticky
 * binding went with the container, so another one is chosen), then sends every participant of that conference in
 * this worker a re-INVITE (RFC 3261 §14.1) with the new mixer's address in its SDP offer: a UAC INVITE client
 * transaction (§17.1.1: Timer A retransmissions over UDP, Timer B 64*T1) with the dialog's remote target, route set
 * and next local CSeq; 2xx → ACK (a new transaction, §13.2.2.4), retransmitted 2xx → the same ACK again; non-2xx →
 * ACK in the same transaction (§17.1.1.3). 491 → one retry after 2.1–4 s (§14.1); 481, 408 or no answer → the
 * dialog is gone (§12.2.1.2): ended here; any other failure leaves the dialog on its old (dead) media, counted.
 *
 * The pure parts (target parsing, request building, response outcome, loss decision) are exported and table-tested;
 * {@link MediaMover} is the thin stateful part fed by the worker's clock, its UDP send and the UAS's responses.
 */
import { randomBytes } from 'node:crypto';
import { RateLimitedLog, type Clock, type Logger, type TimerHandle } from '@switchyard/core';
import {
  headerValue,
  headerValues,
  parseCSeq,
  tagOf,
  topVia,
  viaBranch,
  serializeSipMessage,
  type SipHeader,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import { OWNER_PARAM } from '@switchyard/pop-wire';
import { dialogStateKey, splitHeaderList, type DialogState } from './dialog-state.js';
import { MediaSettings, type MediaAddress, type MediaSource } from './media.js';

/**
 * What a re-INVITE needs of one dialog (RFC 3261 §12.1.1, the UAS side). Field names match the dialog state the
 * dialog-mirroring work keeps (`DialogState`), so either can feed the mover.
 */
export interface DialogTarget {
  readonly dialogKey: string;
  readonly callId: string;
  /** Our tag (the To tag of our 2xx). */
  readonly localTag: string;
  /** The From header of the INVITE as received: the remote party, with its tag. */
  readonly remoteUri: string;
  /** The To header of the INVITE as received (without our tag): us. */
  readonly localUri: string;
  /** Contact URI of the INVITE: where our requests go. */
  readonly remoteTarget: string;
  /** Record-Route entries of the INVITE in the order received. */
  readonly routeSet: readonly string[];
  /** The caller's SDP offer (its m= lines shape our offer). */
  readonly offer: Buffer;
  /** Index of the service address the INVITE arrived on (our Via and the socket we send from). */
  readonly local: number;
  readonly transport: 'udp' | 'tcp';
  /** Where the INVITE came from (used for TCP, whose requests go back on the same connection). */
  readonly peer: { address: string; port: number; conn?: number };
  /** The last local CSeq of the dialog as the UAS records it (mirrored, so it survives a worker crash). */
  readonly localCSeq?: number;
}

/** `sip:user@host:port;params` (or inside `<>`) → host and port (5060 by default); undefined if not a SIP URI. */
export function sipHostPort(uri: string): { host: string; port: number } | undefined {
  const inner = /<([^>]*)>/.exec(uri)?.[1] ?? uri;
  const m = /^sips?:(?:[^@]*@)?(\[[0-9a-fA-F:.]+\]|[^:;?>\s]+)(?::(\d{1,5}))?/i.exec(inner.trim());
  if (!m) return undefined;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  const port = m[2] === undefined ? 5060 : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** Where a request in the dialog goes: the first route (loose routing) or else the remote target. */
export function nextHop(
  t: Pick<DialogTarget, 'remoteTarget' | 'routeSet'>,
): { host: string; port: number } | undefined {
  return sipHostPort(t.routeSet[0] ?? t.remoteTarget);
}

/** Our SDP offer for the new mixer: one m= line per m= line of the caller's offer, session version `version`. */
export function sdpOffer(callerOffer: Buffer, media: MediaAddress, version: number): Buffer {
  const ip = media.address.includes(':') ? `IP6 ${media.address}` : `IP4 ${media.address}`;
  const lines = [
    `v=0`,
    `o=switchyard 1 ${version} IN ${ip}`,
    `s=switchyard conference`,
    `c=IN ${ip}`,
    `t=0 0`,
  ];
  const offered = callerOffer
    .toString('utf8')
    .split(/\r?\n/)
    .filter((l) => l.startsWith('m='));
  if (offered.length === 0) lines.push(`m=audio ${media.port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000');
  for (const m of offered) {
    const [type = 'audio', , proto = 'RTP/AVP', first = '0'] = m.slice(2).split(' ');
    lines.push(`m=${type} ${media.port} ${proto} ${first}`);
  }
  return Buffer.from(lines.join('\r\n') + '\r\n');
}

function hostPort(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** The To of our requests: the caller's From as received (it carries their tag). Our From: their To plus our tag. */
function ourFrom(t: DialogTarget): string {
  return tagOf(t.localUri) === undefined ? `${t.localUri};tag=${t.localTag}` : t.localUri;
}

/**
 * The re-INVITE (RFC 3261 §12.2.1.1, §14.1): remote target as Request-URI, route set as Route, next CSeq. With a
 * POP, `ownerToken` (C9) goes into the top Via (C14: a response landing on another host of the POP is routed back
 * to this one by it) and the caller must put it into `contact` (later in-dialog requests route by it).
 */
export function buildReinvite(
  t: DialogTarget,
  o: {
    cseq: number;
    branch: string;
    via: { address: string; port: number };
    contact: string;
    body: Buffer;
    ownerToken?: string;
  },
): SipRequest {
  const owner = o.ownerToken === undefined ? '' : `;${OWNER_PARAM}=${o.ownerToken}`;
  const headers: SipHeader[] = [
    {
      name: 'via',
      value: `SIP/2.0/${t.transport.toUpperCase()} ${hostPort(o.via)};branch=${o.branch};rport${owner}`,
    },
    { name: 'max-forwards', value: '70' },
    ...t.routeSet.map((r) => ({ name: 'route', value: r })),
    { name: 'from', value: ourFrom(t) },
    { name: 'to', value: t.remoteUri },
    { name: 'call-id', value: t.callId },
    { name: 'cseq', value: `${o.cseq} INVITE` },
    { name: 'contact', value: `<${o.contact}>` },
    { name: 'content-type', value: 'application/sdp' },
  ];
  return { kind: 'request', method: 'INVITE', uri: t.remoteTarget, headers, body: o.body };
}

/**
 * The ACK of a re-INVITE's final response. 2xx (§13.2.2.4): a new transaction (new branch), To of the response.
 * Non-2xx (§17.1.1.3): the INVITE's branch, To of the response, no body.
 */
export function buildAck(invite: SipRequest, res: SipResponse, branch?: string): SipRequest {
  const via = topVia(invite.headers)!;
  const cseq = parseCSeq(headerValue(invite.headers, 'cseq'))!.seq;
  const headers: SipHeader[] = [
    { name: 'via', value: branch === undefined ? via : via.replace(/branch=[^;\s,]+/i, `branch=${branch}`) },
    { name: 'max-forwards', value: '70' },
    ...headerValues(invite.headers, 'route').map((r) => ({ name: 'route', value: r })),
    { name: 'from', value: headerValue(invite.headers, 'from')! },
    { name: 'to', value: headerValue(res.headers, 'to') ?? headerValue(invite.headers, 'to')! },
    { name: 'call-id', value: headerValue(invite.headers, 'call-id')! },
    { name: 'cseq', value: `${cseq} ACK` },
  ];
  return { kind: 'request', method: 'ACK', uri: invite.uri, headers, body: Buffer.alloc(0) };
}

export type ReinviteOutcome = 'proceeding' | 'moved' | 'retry-later' | 'dialog-gone' | 'refused';

/** What a final or provisional response to our re-INVITE means (RFC 3261 §14.1, §12.2.1.2). */
export function reinviteOutcome(status: number): ReinviteOutcome {
  if (status < 200) return 'proceeding';
  if (status < 300) return 'moved';
  if (status === 491) return 'retry-later';
  if (status === 481 || status === 408) return 'dialog-gone';
  return 'refused';
}

/** A container as `GET /v1/services` lists it (contract C4). */
export interface ListedContainer {
  id: string;
  registeredAt?: number | string;
}

/**
 * Has the conference lost its mixer? `listed`: the media service's containers now; `firstSeen`: the registeredAt
 * noted when the allocation's container was first seen listed (undefined: not yet noted).
 */
export function mixerLost(
  allocation: MediaAddress,
  listed: readonly ListedContainer[],
  firstSeen: string | undefined,
): boolean {
  const c = listed.find((x) => x.id === allocation.containerId);
  if (!c) return true;
  return firstSeen !== undefined && String(c.registeredAt ?? '') !== firstSeen;
}

export const MEDIA_MOVE_DEFAULTS = {
  /** 500 ms, RFC 3261 T1. */
  t1Ms: 500,
  /** 2.1–4 s before retrying after 491 (RFC 3261 §14.1, we do not own the Call-ID). */
  glareMinMs: 2100,
  glareMaxMs: 4000,
} as const;

export interface MediaMoveCounters {
  /** Conferences found without their mixer. */
  lost: number;
  /** Conferences given a new mixer. */
  moved: number;
  /** New allocations that failed (retried at the next check). */
  allocationFailures: number;
  reinvites: number;
  /** Re-INVITEs answered 2xx (participant now on the new mixer). */
  reinvitesOk: number;
  /** Re-INVITEs that failed: refused, dialog gone, or unanswered. */
  reinvitesFailed: number;
  /** Dialogs ended because the participant's side no longer had them (481/408/Timer B). */
  dialogsEnded: number;
  /** Failed reads of the balancer's container list. */
  checkFailures: number;
}

/** What the mover needs of the UAS and the worker. */
export interface MediaMoverComponents {
  clock: Clock;
  logger?: Logger;
  fetch?: typeof fetch;
  media: MediaSource;
  /** Conferences with dialogs in this worker. */
  conferences(): Iterable<string>;
  /** The dialogs of one conference in this worker. */
  dialogs(conferenceId: string): DialogTarget[];
  /** Ends a dialog whose other side no longer has it. */
  endDialog(dialogKey: string): void;
  /** Records the local CSeq of a re-INVITE in the dialog's state (so the dialog mirror carries it). */
  recordLocalCSeq?(dialogKey: string, seq: number): void;
  /** Our service address `local` (Via, Contact). */
  localAddress(local: number): { address: string; port: number };
  /** This host's POP owner token (C9) now, for our Via and Contact; undefined without a POP router. */
  ownerToken?(): string | undefined;
  /** Sends a request: UDP to `to`, or TCP on connection `conn`. */
  send(
    bytes: Buffer,
    to: { transport: 'udp' | 'tcp'; address: string; port: number; local: number; conn?: number },
  ): void;
}

export interface MediaMoverInit {
  balancerUrl: string;
  balancerToken: string;
  mediaService: string;
  checkMs: number;
  timeoutMs: number;
  t1Ms?: number;
}

interface ClientTx {
  readonly branch: string;
  readonly dialogKey: string;
  readonly conferenceId: string;
  readonly invite: SipRequest;
  readonly bytes: Buffer;
  readonly to: Parameters<MediaMoverComponents['send']>[1];
  interval: number;
  timerA: TimerHandle | undefined;
  timerB: TimerHandle | undefined;
  /** The ACK sent for a 2xx, re-sent on a retransmitted 2xx. */
  ack: Buffer | undefined;
  final: number;
  glareRetried: boolean;
}

export class MediaMover {
  readonly counters: MediaMoveCounters = {
    lost: 0,
    moved: 0,
    allocationFailures: 0,
    reinvites: 0,
    reinvitesOk: 0,
    reinvitesFailed: 0,
    dialogsEnded: 0,
    checkFailures: 0,
  };
  /** The media each conference's participants were given (what they send to now). */
  private readonly given = new Map<string, MediaAddress>();
  /** registeredAt of each conference's container when first seen listed. */
  private readonly seenAt = new Map<string, string>();
  /** Client transactions by branch. */
  private readonly txs = new Map<string, ClientTx>();
  /** Local CSeq per dialog: the last one we used. */
  private readonly cseq = new Map<string, number>();
  private readonly t1: number;
  private timer: TimerHandle | undefined;
  private checking = false;
  private sdpVersion = 1;
  private readonly log: RateLimitedLog | undefined;

  constructor(
    private readonly components: MediaMoverComponents,
    private readonly init: MediaMoverInit,
  ) {
    this.t1 = init.t1Ms ?? MEDIA_MOVE_DEFAULTS.t1Ms;
    if (components.logger) this.log = new RateLimitedLog(components.logger, components.clock, 5, 1000);
  }

  start(): void {
    this.timer = this.components.clock.setInterval(() => void this.check(), this.init.checkMs);
  }

  stop(): void {
    this.components.clock.clearInterval(this.timer);
    for (const tx of this.txs.values()) this.clearTx(tx);
    this.txs.clear();
  }

  /** A dialog ended: its local CSeq is no longer needed. */
  dialogClosed(dialogKey: string): void {
    this.cseq.delete(dialogKey);
  }

  get pendingTransactions(): number {
    return this.txs.size;
  }

  /** One check: reads the container list and moves every conference here whose mixer is gone. */
  async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      const confs = [...this.components.conferences()];
      for (const k of this.given.keys()) if (!confs.includes(k)) this.forget(k);
      const withMedia = confs.filter((c) => this.given.has(c) || this.components.media.cached(c));
      if (withMedia.length === 0) return;
      const listed = await this.listContainers();
      if (!listed) return;
      for (const conf of withMedia) {
        const had = this.given.get(conf) ?? this.components.media.cached(conf)!;
        if (!this.given.has(conf)) this.given.set(conf, had);
        const at = listed.find((c) => c.id === had.containerId);
        if (at && !this.seenAt.has(conf)) this.seenAt.set(conf, String(at.registeredAt ?? ''));
        if (mixerLost(had, listed, this.seenAt.get(conf))) await this.move(conf, had);
      }
    } finally {
      this.checking = false;
    }
  }

  /** A response the UAS got (it sends no requests itself): ours if its branch is one of our transactions. */
  onResponse(res: SipResponse): boolean {
    const branch = viaBranch(topVia(res.headers));
    const tx = branch === undefined ? undefined : this.txs.get(branch);
    if (!tx || parseCSeq(headerValue(res.headers, 'cseq'))?.method !== 'INVITE') return false;
    const outcome = reinviteOutcome(res.status);
    if (outcome === 'proceeding') {
      // Timer A stops on a provisional response; Timer B still bounds the wait
      this.components.clock.clearTimeout(tx.timerA);
      tx.timerA = undefined;
      return true;
    }
    if (tx.final !== 0) {
      // retransmitted final response: the ACK again (a 2xx's own ACK, or the non-2xx's)
      if (tx.ack) this.components.send(tx.ack, tx.to);
      return true;
    }
    tx.final = res.status;
    this.clearTimers(tx);
    const ack = outcome === 'moved' ? buildAck(tx.invite, res, newBranch()) : buildAck(tx.invite, res);
    tx.ack = serializeSipMessage(ack);
    this.components.send(tx.ack, tx.to);
    // keep the transaction 64*T1 to answer retransmitted finals with the ACK, then forget it
    tx.timerB = this.components.clock.setTimeout(() => this.txs.delete(tx.branch), 64 * this.t1);
    switch (outcome) {
      case 'moved':
        this.counters.reinvitesOk++;
        return true;
      case 'retry-later':
        if (!tx.glareRetried) {
          const { glareMinMs, glareMaxMs } = MEDIA_MOVE_DEFAULTS;
          const wait = glareMinMs + Math.floor(Math.random() * (glareMaxMs - glareMinMs));
          this.components.clock.setTimeout(
            () => this.reinviteByKey(tx.conferenceId, tx.dialogKey, true),
            wait,
          );
          return true;
        }
        this.failed(tx, `re-INVITE answered ${res.status} twice`);
        return true;
      case 'dialog-gone':
        this.failed(tx, `re-INVITE answered ${res.status}`);
        this.endDialog(tx.dialogKey);
        return true;
      default:
        this.failed(tx, `re-INVITE answered ${res.status}`);
        return true;
    }
  }

  private forget(conf: string): void {
    this.given.delete(conf);
    this.seenAt.delete(conf);
  }

  private async listContainers(): Promise<ListedContainer[] | undefined> {
    const f = this.components.fetch ?? fetch;
    try {
      const res = await f(`${this.init.balancerUrl.replace(/\/$/, '')}/v1/services`, {
        headers: this.init.balancerToken ? { authorization: `Bearer ${this.init.balancerToken}` } : {},
        signal: AbortSignal.timeout(this.init.timeoutMs),
      });
      if (!res.ok) throw new Error(`balancer answered ${res.status}`);
      const body = (await res.json()) as {
        services?: { service?: string; containers?: ListedContainer[] }[];
      };
      const svc = body.services?.find((s) => s.service === this.init.mediaService);
      return (svc?.containers ?? []).filter((c) => typeof c?.id === 'string');
    } catch (err) {
      // a balancer that does not answer says nothing about the mixers: no move, try again next period
      this.counters.checkFailures++;
      this.log?.warn({ err: String(err) }, 'cannot read the balancer container list');
      return undefined;
    }
  }

  private async move(conf: string, had: MediaAddress): Promise<void> {
    this.counters.lost++;
    this.components.media.release(conf);
    let next: MediaAddress;
    try {
      next = await this.components.media.allocate(conf);
    } catch (err) {
      // no mixer now: the conference stays marked with the dead one and is tried again next period
      this.counters.allocationFailures++;
      this.log?.warn(
        { err: String(err), conference: conf },
        'no new mixer for a conference that lost its own',
      );
      return;
    }
    this.given.set(conf, next);
    this.seenAt.delete(conf);
    this.counters.moved++;
    this.components.logger?.info(
      { conference: conf, from: had.containerId, to: next.containerId },
      'conference moved to a new mixer; re-INVITing its participants',
    );
    for (const d of this.components.dialogs(conf)) this.reinvite(conf, d, next);
  }

  private reinviteByKey(conf: string, dialogKey: string, glareRetry: boolean): void {
    const media = this.given.get(conf) ?? this.components.media.cached(conf);
    const d = this.components.dialogs(conf).find((x) => x.dialogKey === dialogKey);
    if (media && d) this.reinvite(conf, d, media, glareRetry);
  }

  private reinvite(conf: string, d: DialogTarget, media: MediaAddress, glareRetry = false): void {
    const hop = d.transport === 'tcp' ? { host: d.peer.address, port: d.peer.port } : nextHop(d);
    if (!hop) {
      this.counters.reinvitesFailed++;
      this.log?.warn({ callId: d.callId, target: d.remoteTarget }, 'no SIP target to re-INVITE');
      return;
    }
    const seq = Math.max(this.cseq.get(d.dialogKey) ?? 0, d.localCSeq ?? 0) + 1;
    this.cseq.set(d.dialogKey, seq);
    this.components.recordLocalCSeq?.(d.dialogKey, seq);
    const local = this.components.localAddress(d.local);
    const branch = newBranch();
    const token = this.components.ownerToken?.();
    const invite = buildReinvite(d, {
      cseq: seq,
      branch,
      via: local,
      // the same Contact as the UAS's answers: the caller's later in-dialog requests route to this host by it
      contact: ownerContact(`sip:${conf}@${hostPort(local)}`, token),
      body: sdpOffer(d.offer, media, ++this.sdpVersion),
      ...(token === undefined ? {} : { ownerToken: token }),
    });
    const to = {
      transport: d.transport,
      address: hop.host,
      port: hop.port,
      local: d.local,
      ...(d.peer.conn === undefined ? {} : { conn: d.peer.conn }),
    };
    const tx: ClientTx = {
      branch,
      dialogKey: d.dialogKey,
      conferenceId: conf,
      invite,
      bytes: serializeSipMessage(invite),
      to,
      interval: this.t1,
      timerA: undefined,
      timerB: undefined,
      ack: undefined,
      final: 0,
      glareRetried: glareRetry,
    };
    this.txs.set(branch, tx);
    this.counters.reinvites++;
    this.components.send(tx.bytes, to);
    const { clock } = this.components;
    // Timer A: retransmit over UDP, doubling; Timer B: give up after 64*T1
    const retransmit = () => {
      this.components.send(tx.bytes, tx.to);
      tx.interval *= 2;
      tx.timerA = clock.setTimeout(retransmit, tx.interval);
    };
    if (d.transport === 'udp') tx.timerA = clock.setTimeout(retransmit, tx.interval);
    tx.timerB = clock.setTimeout(() => {
      this.clearTimers(tx);
      this.txs.delete(tx.branch);
      this.failed(tx, 're-INVITE unanswered (Timer B)');
      this.endDialog(tx.dialogKey);
    }, 64 * this.t1);
  }

  private failed(tx: ClientTx, why: string): void {
    this.counters.reinvitesFailed++;
    this.log?.warn({ callId: headerValue(tx.invite.headers, 'call-id'), why }, 're-INVITE failed');
  }

  private endDialog(key: string): void {
    this.counters.dialogsEnded++;
    this.cseq.delete(key);
    this.components.endDialog(key);
  }

  private clearTimers(tx: ClientTx): void {
    this.components.clock.clearTimeout(tx.timerA);
    this.components.clock.clearTimeout(tx.timerB);
    tx.timerA = undefined;
    tx.timerB = undefined;
  }

  private clearTx(tx: ClientTx): void {
    this.clearTimers(tx);
  }
}

/** The worker's mover from its environment (the media settings it inherits), or undefined without a balancer. */
export function mediaMoverFromEnv(
  env: NodeJS.ProcessEnv,
  components: MediaMoverComponents,
): MediaMover | undefined {
  const r = MediaSettings.load([], env);
  if (r.help || !r.config.balancerUrl) return undefined;
  const c = r.config;
  return new MediaMover(components, {
    balancerUrl: c.balancerUrl,
    balancerToken: c.balancerToken,
    mediaService: c.mediaService,
    checkMs: c.mediaCheckMs,
    timeoutMs: c.mediaTimeoutMs,
  });
}

/** The re-INVITE target of the dialog our 2xx to `req` creates (RFC 3261 §12.1.1, UAS side). */
export function dialogTargetOfInvite(
  req: SipRequest,
  peer: { transport: 'udp' | 'tcp'; address: string; port: number; local: number; conn?: number },
  localTag: string,
  dialogKey: string,
): DialogTarget {
  const contact = splitHeaderList(headerValue(req.headers, 'contact') ?? '')[0] ?? '';
  const inAngle = /<([^>]*)>/.exec(contact)?.[1];
  return {
    dialogKey,
    callId: headerValue(req.headers, 'call-id') ?? '',
    localTag,
    remoteUri: headerValue(req.headers, 'from') ?? '',
    localUri: headerValue(req.headers, 'to') ?? '',
    remoteTarget: inAngle ?? contact.split(';')[0]!.trim(),
    routeSet: headerValues(req.headers, 'record-route').flatMap(splitHeaderList),
    offer: req.body,
    local: peer.local,
    transport: peer.transport,
    peer: { address: peer.address, port: peer.port, ...(peer.conn === undefined ? {} : { conn: peer.conn }) },
  };
}

/** A Contact URI with this host's owner token (C9) as a URI parameter, when there is one. */
export function ownerContact(uri: string, token: string | undefined): string {
  return token === undefined ? uri : `${uri};${OWNER_PARAM}=${token}`;
}

/**
 * The re-INVITE target of a dialog adopted from a crashed worker, from its mirrored state, or undefined when the
 * state lacks what a re-INVITE needs: the offer's media lines (mirrored by an older worker), or a UDP peer (a TCP
 * dialog's connection died with its worker; the caller re-sends over a new one, which the heir cannot open).
 */
export function dialogTargetOfState(s: DialogState): DialogTarget | undefined {
  if (s.offerMedia === undefined || s.peer.transport !== 'udp' || !s.remoteTarget) return undefined;
  return {
    dialogKey: dialogStateKey(s),
    callId: s.callId,
    localTag: s.localTag,
    remoteUri: s.remoteUri,
    localUri: s.localUri,
    remoteTarget: s.remoteTarget,
    routeSet: [...s.routeSet],
    offer: Buffer.from(s.offerMedia, 'latin1'),
    local: s.peer.local,
    transport: 'udp',
    peer: { address: s.peer.address, port: s.peer.port },
    localCSeq: s.localCSeq,
  };
}

function newBranch(): string {
  return `z9hG4bK-mv-${randomBytes(8).toString('hex')}`;
}
