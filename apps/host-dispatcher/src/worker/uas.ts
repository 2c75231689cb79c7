/**
 * The worker's SIP user agent server and conference focus (RFC 3261 §8.2, §12, §13.3, §15, §17.2). Fed decoded
 * messages with the peer they came from; it answers through the injected `send` and reports dialogs through
 * `events`. All timers go through the injected clock.
 *
 * Behaviour: INVITE → 100, 180, 200 with an SDP answer and a To tag (after `answerDelayMs`); ACK stops the 2xx
 * retransmissions; BYE → 200; CANCEL of a pending INVITE → 200 + 487; OPTIONS, REGISTER → 200; INFO/UPDATE in a dialog
 * → 200; any in-dialog request for an unknown dialog → 481; retransmitted requests get the last response again.
 */
import { randomBytes } from 'node:crypto';
import type { Clock, TimerHandle } from '@switchyard/core';
import { allowHeader, checkRequest } from './request-checks.js';
import { conferenceOfUri } from '@switchyard/affinity';
import {
  buildResponse,
  headerValue,
  parseCSeq,
  parseSipMessage,
  statusForParseError,
  type SipParseError,
  serializeSipMessage,
  tagOf,
  topVia,
  viaBranch,
  type SipHeader,
  type SipRequest,
  type SipResponse,
} from '../sip/message.js';
import type { MediaAddress, MediaSource } from './media.js';
import {
  applyInDialogRequest,
  dialogStateKey,
  dialogStateOfInvite,
  type DialogState,
} from './dialog-state.js';
import { dialogTargetOfInvite, dialogTargetOfState, ownerContact, type DialogTarget } from './media-move.js';

/** Where a message came from and where its responses go. */
export interface Peer {
  readonly transport: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
  /** Index of the service address (the bound socket) the message arrived on. */
  readonly local: number;
  /** TCP connection id inside the worker. */
  readonly conn?: number;
}

export interface DialogInfo {
  readonly callId: string;
  /** The conference the primary routed the INVITE by; undefined when its Request-URI has no user part. */
  readonly conferenceId: string | undefined;
  readonly dialogKey: string;
  /** The dialog's state (ids, tags, route set, remote target, CSeqs, media): what is mirrored out of the worker. */
  readonly state: DialogState;
  /** Adopted from a mirror (a worker that crashed held it), not created here by a 2xx. */
  readonly adopted?: boolean;
}

/** Why a dialog ended: every dialog ends by one of these, whatever the transport. */
export type DialogEnd = 'bye' | 'ack-timeout' | 'idle-timeout' | 'shutdown' | 'ended-elsewhere' | 'gone';

export interface UasEvents {
  dialogOpened(d: DialogInfo): void;
  dialogClosed(d: DialogInfo, why: DialogEnd): void;
  /** The dialog's state changed (confirmed by its ACK, target refresh, CSeq): mirrored out of the worker. */
  dialogUpdated?(d: DialogInfo): void;
  /** An in-dialog request for a dialog this UAS does not hold (answered 481). */
  noDialog?(callId: string): void;
}

export interface UasComponents {
  clock: Clock;
  send(bytes: Buffer, to: Peer): void;
  events: UasEvents;
  /** Service addresses by index, for Contact and SDP. */
  localAddress(index: number): { address: string; port: number };
  /** Mixer allocation (worker/media.ts); absent: the SDP answer gives the worker's own address. */
  media?: MediaSource;
  /** Responses to requests the worker sent in a dialog (worker/media-move.ts re-INVITEs); absent: strays. */
  onResponse?(res: SipResponse, peer: Peer): boolean;
}

export interface UasInit {
  /** RFC 3261 T1 (RTT estimate): first retransmission interval, ms. */
  t1Ms?: number;
  /** RFC 3261 T2: cap of the retransmission interval, ms. */
  t2Ms?: number;
  /** RFC 3261 T4: how long a confirmed INVITE transaction absorbs ACK retransmissions, ms. */
  t4Ms?: number;
  /** Delay between 180 and 200 (0: answer at once); a CANCEL can only win inside this window. */
  answerDelayMs?: number;
  /** Send 180 Ringing before the 200 (false: 100 then 200; a proxy with several processes may reorder 180/200). */
  ringing?: boolean;
  /** A confirmed dialog with no request in it for this long (ms) ends: a peer that vanished leaks nothing. */
  dialogIdleMs?: number;
  /** New dialogs past this many in the worker are refused with 503 and Retry-After. */
  maxDialogs?: number;
  /** New dialogs past this many from one source address are refused with 503 and Retry-After. */
  maxDialogsPerSource?: number;
  /** Retry-After (s) on a 503 for a cap or a drain. */
  retryAfterS?: number;
}

export const UAS_DEFAULTS = {
  /** 500 ms, RFC 3261 default. */
  t1Ms: 500,
  /** 4 s, RFC 3261 default. */
  t2Ms: 4000,
  /** 5 s, RFC 3261 default. */
  t4Ms: 5000,
  /** answer immediately: a conference focus has nobody to ring. */
  answerDelayMs: 0,
  /** ring, as a UAS normally does. */
  ringing: true,
  /**
   * 4 h: without session timers (RFC 4028) a live call sends nothing in its dialog, so this must exceed any
   * real call; it only bounds what a vanished peer leaves behind.
   */
  dialogIdleMs: 4 * 3600_000,
  /** 20,000 dialogs: about 200 MB of worker heap at ~10 KB per dialog with its transactions. */
  maxDialogs: 20_000,
  /** 1,000 per source address: a busy SBC or gateway stays under it, one flooding host cannot fill the worker. */
  maxDialogsPerSource: 1_000,
  /** 5 s, like the primary's own 503. */
  retryAfterS: 5,
} as const satisfies Required<UasInit>;

export interface UasCounters {
  requests: number;
  responsesSent: number;
  retransmissionsAbsorbed: number;
  noDialog481: number;
  rejected503: number;
  /** 503s for the dialog caps (also in rejected503). */
  overCap503: number;
  strayResponses: number;
}

interface ServerTransaction {
  readonly key: string;
  readonly method: string;
  readonly peer: Peer;
  readonly request: SipRequest;
  /** Last response sent (re-sent on retransmitted requests). */
  last: Buffer | undefined;
  lastStatus: number;
  timer: TimerHandle | undefined;
  /** INVITE only: pending 200 (answer delay). */
  answerTimer: TimerHandle | undefined;
  toTag: string;
  done: boolean;
}

interface Dialog extends DialogInfo {
  readonly peer: Peer;
  /**
   * What a re-INVITE of this participant needs (worker/media-move.ts). On a dialog adopted from a crashed worker it
   * comes from the mirrored state (the offer's `m=` lines included); absent when that state lacks them (mirrored by
   * an older worker) or the dialog is over TCP: such a participant is not re-INVITEd on a mixer move.
   */
  readonly target?: DialogTarget;
  /** Ends the dialog after `dialogIdleMs` without a request in it (re-armed by each one). */
  idleTimer: TimerHandle | undefined;
  /** 2xx retransmission until ACK (RFC 3261 §13.3.1.4). */
  okBytes: Buffer | undefined;
  okCSeq: number;
  okTimer: TimerHandle | undefined;
  okInterval: number;
  okDeadline: number;
}

export interface ConferenceView {
  readonly id: string;
  readonly participants: string[];
}

export class SipUas {
  private readonly cfg: Required<UasInit>;
  private readonly transactions = new Map<string, ServerTransaction>();
  private readonly dialogs = new Map<string, Dialog>();
  /** This host's POP owner token (C9) for our Contact; undefined without a POP router. */
  private ownerToken: string | undefined;
  /** conference id -> dialog keys of its participants */
  private readonly conferences = new Map<string, Set<string>>();
  /**
   * Adopted dialogs by their INVITE (`callId \n fromTag \n cseq`): a retransmission of that INVITE reaching this
   * worker (the dead worker held its transaction) is the dialog's, not a new call.
   */
  private readonly adoptedInvites = new Map<string, Dialog>();
  /** Dialogs per source address, for the per-source cap. */
  private readonly perSource = new Map<string, number>();
  private draining = false;
  readonly counters: UasCounters = {
    requests: 0,
    responsesSent: 0,
    retransmissionsAbsorbed: 0,
    noDialog481: 0,
    rejected503: 0,
    overCap503: 0,
    strayResponses: 0,
  };

  constructor(
    private readonly components: UasComponents,
    init: UasInit = {},
  ) {
    this.cfg = { ...UAS_DEFAULTS, ...init };
  }

  get dialogCount(): number {
    return this.dialogs.size;
  }
  get transactionCount(): number {
    return this.transactions.size;
  }
  conferenceViews(): ConferenceView[] {
    return [...this.conferences].map(([id, set]) => ({ id, participants: [...set] }));
  }
  /** No new conferences from now on (existing ones still take participants and finish their dialogs). */
  /** Sets (or clears) the owner token written into the Contact of new answers (C9). */
  setOwnerToken(token: string | undefined): void {
    this.ownerToken = token;
  }

  drain(): void {
    this.draining = true;
  }

  /**
   * Parses one message and handles it: a request that does not parse is answered 400/505/513 statelessly when SIP
   * allows (never an ACK, never a response); a response is never answered. `route`: the primary's routing
   * decision for a datagram; without one (TCP, no primary) the conference is read by the same URI grammar.
   * Returns the parse error, if any, for the caller's counters.
   */
  receive(
    bytes: Buffer,
    peer: Peer,
    route?: { conference: string | undefined },
    init: { stream?: boolean; maxBytes?: number } = {},
  ): SipParseError | undefined {
    const r = parseSipMessage(bytes, init);
    if (!r.ok) {
      if (r.partial) this.rejectMalformed(r.partial, peer, statusForParseError(r.error), r.error);
      return r.error;
    }
    const msg = r.message;
    if (msg.kind === 'response') this.onResponse(msg, peer);
    else this.onRequest(msg, peer, route ? route.conference : conferenceOfUri(msg.uri));
    return undefined;
  }

  /**
   * Handles one decoded request. `conference`: the routing key the primary decided for it (the Request-URI user
   * part by the one URI grammar), undefined when it has none: a dialog then belongs to no conference.
   */
  onRequest(req: SipRequest, peer: Peer, conference: string | undefined): void {
    this.counters.requests++;
    const txKey = transactionKey(req, peer);
    if (req.method === 'ACK') {
      this.onAck(req, txKey);
      return;
    }
    const existing = this.transactions.get(txKey);
    if (existing) {
      // RFC 3261 §17.2: a retransmitted request gets the last response again
      this.counters.retransmissionsAbsorbed++;
      if (existing.last) this.transmit(existing.last, existing.peer);
      return;
    }
    // RFC 3261 §8.2: method, URI scheme, Require, body and Accept, before anything else
    const refusal = checkRequest(req);
    if (refusal) {
      this.respond(this.newTransaction(txKey, req, peer), refusal.status, { headers: refusal.headers });
      return;
    }
    if (req.method === 'CANCEL') {
      this.onCancel(req, peer, txKey);
      return;
    }
    const tx = this.newTransaction(txKey, req, peer);
    const toTag = tagOf(headerValue(req.headers, 'to'));
    if (toTag !== undefined) {
      this.inDialog(tx, toTag);
      return;
    }
    switch (req.method) {
      case 'INVITE': {
        const adopted = this.adoptedInvites.size ? this.adoptedInvites.get(inviteKey(req)) : undefined;
        if (adopted) {
          // RFC 6026 Accepted: a retransmitted INVITE is absorbed; the 2xx goes again while it is not ACKed
          this.transactions.delete(txKey);
          this.counters.retransmissionsAbsorbed++;
          if (adopted.okBytes) this.transmit(adopted.okBytes, adopted.peer);
          return;
        }
        this.onInvite(tx, conference);
        return;
      }
      case 'OPTIONS':
        this.respond(tx, 200, { headers: [allow(), { name: 'accept', value: 'application/sdp' }] });
        return;
      case 'REGISTER': {
        const contact = headerValue(req.headers, 'contact');
        const extra: SipHeader[] = contact
          ? [{ name: 'contact', value: withExpires(contact, headerValue(req.headers, 'expires')) }]
          : [];
        this.respond(tx, 200, { headers: extra });
        return;
      }
      case 'BYE':
      case 'INFO':
      case 'UPDATE':
      case 'PRACK':
      case 'NOTIFY':
        // needs a dialog and has no To tag: no such dialog
        this.counters.noDialog481++;
        this.respond(tx, 481);
        return;
      default:
        this.respond(tx, 501, { headers: [allow()] });
    }
  }

  /** Responses to our own requests (re-INVITEs after a mixer moved); any other is a stray (RFC 3261 §8.1.3.1). */
  onResponse(res: SipResponse, peer: Peer): void {
    if (!this.components.onResponse?.(res, peer)) this.counters.strayResponses++;
  }

  /** The re-INVITE targets of a conference's dialogs here. */
  conferenceDialogs(conferenceId: string): DialogTarget[] {
    const keys = this.conferences.get(conferenceId);
    return keys
      ? [...keys].flatMap((k) => {
          const d = this.dialogs.get(k);
          // the mirrored local CSeq: a re-INVITE after a hand-over continues from what the dead worker sent
          // the remote target as last refreshed (a re-INVITE or UPDATE from the caller moves it)
          return d?.target
            ? [
                {
                  ...d.target,
                  remoteTarget: d.state.remoteTarget || d.target.remoteTarget,
                  localCSeq: d.state.localCSeq,
                },
              ]
            : [];
        })
      : [];
  }

  /** Conferences with at least one dialog here. */
  conferenceIds(): IterableIterator<string> {
    return this.conferences.keys();
  }

  /** Ends a dialog the other side no longer has (a re-INVITE got 481/408 or no answer). */
  endDialog(dialogKey: string): void {
    const d = this.dialogs.get(dialogKey);
    if (d) this.closeDialog(d, 'gone');
  }

  /** A well-formed-enough request we could not parse fully: 400 (or 513), stateless. */
  rejectMalformed(partial: SipRequest, peer: Peer, status: 400 | 505 | 513, why: string): void {
    if (partial.method === 'ACK') return;
    const res = buildResponse(partial, status, {
      reason: status === 400 ? `Bad Request (${why})` : undefined,
    });
    this.transmit(serializeSipMessage(res), peer);
  }

  /** Ends everything (worker exit): cancels timers, reports dialogs closed. */
  shutdown(): void {
    for (const tx of this.transactions.values()) this.clearTx(tx);
    this.transactions.clear();
    for (const d of [...this.dialogs.values()]) this.closeDialog(d, 'shutdown');
  }

  private onInvite(tx: ServerTransaction, conferenceId: string | undefined): void {
    if (this.draining && (conferenceId === undefined || !this.conferences.has(conferenceId))) {
      this.refuse503(tx);
      return;
    }
    // caps on the state anyone who reaches the port can make us hold (RFC 3261 §21.5.4: 503 with Retry-After)
    if (
      this.dialogs.size >= this.cfg.maxDialogs ||
      (this.perSource.get(tx.peer.address) ?? 0) >= this.cfg.maxDialogsPerSource
    ) {
      this.counters.overCap503++;
      this.refuse503(tx);
      return;
    }
    this.respond(tx, 100);
    if (this.cfg.ringing) this.respond(tx, 180);
    if (this.cfg.answerDelayMs > 0) {
      tx.answerTimer = this.components.clock.setTimeout(() => {
        tx.answerTimer = undefined;
        this.answerWithMedia(tx, conferenceId);
      }, this.cfg.answerDelayMs);
    } else {
      this.answerWithMedia(tx, conferenceId);
    }
  }

  private refuse503(tx: ServerTransaction): void {
    this.counters.rejected503++;
    this.respond(tx, 503, { headers: [{ name: 'retry-after', value: String(this.cfg.retryAfterS) }] });
  }

  /** The conference's first INVITE here allocates its mixer; later ones use the cached address. */
  private answerWithMedia(tx: ServerTransaction, conferenceId: string | undefined): void {
    const media = this.components.media;
    // a call with no conference (no user part in the Request-URI) has no mixer to share
    if (!media || conferenceId === undefined) return this.answer(tx, conferenceId);
    const hit = media.cached(conferenceId);
    if (hit) return this.answer(tx, conferenceId, hit);
    media.allocate(conferenceId).then(
      (a) => {
        if (tx.lastStatus < 200) this.answer(tx, conferenceId, a);
      },
      () => {
        // counted and logged by the media source; the caller may retry
        if (tx.lastStatus < 200) this.refuse503(tx);
      },
    );
  }

  private answer(tx: ServerTransaction, conferenceId: string | undefined, media?: MediaAddress): void {
    const req = tx.request;
    const callId = headerValue(req.headers, 'call-id')!;
    const fromTag = tagOf(headerValue(req.headers, 'from')) ?? '';
    const key = `${callId}\n${fromTag}\n${tx.toTag}`;
    const local = this.components.localAddress(tx.peer.local);
    const body = media
      ? sdpAnswer(req.body, media.address, 0, media.port)
      : sdpAnswer(req.body, local.address, this.dialogs.size);
    const headers: SipHeader[] = [
      {
        name: 'contact',
        value: `<${contactUri(conferenceId, local, this.ownerToken)}${tx.peer.transport === 'tcp' ? ';transport=tcp' : ''}>`,
      },
      allow(),
      { name: 'content-type', value: 'application/sdp' },
    ];
    const ok = this.respond(tx, 200, { headers, body });
    const cseq = parseCSeq(headerValue(req.headers, 'cseq'))?.seq ?? 0;
    const existing = this.dialogs.get(key);
    if (existing) return; // re-INVITE answered on an existing dialog
    const state = dialogStateOfInvite(req, tx.peer, tx.toTag, conferenceId);
    if (media) state.media = { address: media.address, port: media.port, containerId: media.containerId };
    // mirrored with the dialog until its ACK: an heir can send it again if this worker dies before it leaves
    if (tx.peer.transport === 'udp') state.answer = ok.toString('latin1');
    const dialog: Dialog = {
      callId,
      conferenceId,
      dialogKey: key,
      state,
      peer: tx.peer,
      target: dialogTargetOfInvite(req, tx.peer, tx.toTag, key),
      okBytes: ok,
      okCSeq: cseq,
      okTimer: undefined,
      okInterval: this.cfg.t1Ms,
      okDeadline: this.components.clock.now() + 64 * this.cfg.t1Ms,
      idleTimer: undefined,
    };
    this.hold(dialog);
    // whatever the transport: no ACK within 64*T1 ends the dialog (a TCP peer that closes leaves nothing behind)
    this.scheduleOk(dialog);
  }

  private hold(dialog: Dialog): void {
    this.dialogs.set(dialog.dialogKey, dialog);
    const source = dialog.peer.address;
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
    if (dialog.conferenceId !== undefined) {
      let conf = this.conferences.get(dialog.conferenceId);
      if (!conf) this.conferences.set(dialog.conferenceId, (conf = new Set()));
      conf.add(dialog.dialogKey);
    }
    this.components.events.dialogOpened(dialog);
  }

  /**
   * Takes over dialogs another worker held (it crashed; the primary mirrored them): from now on their in-dialog
   * requests are answered here as if this worker had answered their INVITE. An unconfirmed one still ends by the
   * ACK timeout (64*T1 from now; its 2xx is not retransmitted from here); a confirmed one by the idle timeout.
   * A dialog already held here is updated in place. The caps do not apply: these calls were admitted already.
   */
  adopt(states: readonly DialogState[]): void {
    const { clock } = this.components;
    for (const s of states) {
      const key = dialogStateKey(s);
      const held = this.dialogs.get(key);
      if (held) {
        Object.assign(held.state, s, { confirmed: held.state.confirmed || s.confirmed });
        if (held.state.confirmed) delete held.state.answer;
        continue;
      }
      const state: DialogState = { ...s, routeSet: [...s.routeSet], peer: { ...s.peer } };
      const d: Dialog = {
        callId: s.callId,
        conferenceId: s.conferenceId,
        dialogKey: key,
        state,
        adopted: true,
        peer: { ...s.peer },
        target: dialogTargetOfState(state),
        okBytes: undefined,
        okCSeq: s.remoteCSeq,
        okTimer: undefined,
        okInterval: this.cfg.t1Ms,
        okDeadline: clock.now() + 64 * this.cfg.t1Ms,
        idleTimer: undefined,
      };
      if (s.media && s.conferenceId !== undefined) this.components.media?.adopt?.(s.conferenceId, s.media);
      this.adoptedInvites.set(`${s.callId}\n${s.remoteTag}\n${s.inviteCSeq ?? s.remoteCSeq}`, d);
      this.hold(d);
      this.touch(d);
      if (state.confirmed) continue;
      if (state.answer !== undefined) {
        // our 2xx may have died with the worker: send it now and retransmit it until the ACK, as its worker would
        d.okBytes = Buffer.from(state.answer, 'latin1');
        this.transmit(d.okBytes, d.peer);
        this.scheduleOk(d);
      } else {
        d.okTimer = clock.setTimeout(() => {
          d.okTimer = undefined;
          this.closeDialog(d, 'ack-timeout');
        }, 64 * this.cfg.t1Ms);
      }
    }
  }

  /** Dialogs that ended on the worker that held them before this one adopted them (late news of a crash). */
  forget(keys: readonly string[]): void {
    for (const k of keys) {
      const d = this.dialogs.get(k);
      if (d) this.closeDialog(d, 'ended-elsewhere');
    }
  }

  /** The state of one dialog (by {@link DialogInfo.dialogKey}), or undefined. Do not mutate: use {@link updateDialog}. */
  dialogState(key: string): Readonly<DialogState> | undefined {
    return this.dialogs.get(key)?.state;
  }

  /** Every dialog's state. */
  dialogStates(): Readonly<DialogState>[] {
    return [...this.dialogs.values()].map((d) => d.state);
  }

  /** Code that sends requests in a dialog (e.g. re-INVITEs) records its local CSeq here, so that it is mirrored. */
  updateDialog(
    key: string,
    patch: Partial<Pick<DialogState, 'localCSeq' | 'remoteTarget' | 'media'>>,
  ): boolean {
    const d = this.dialogs.get(key);
    if (!d) return false;
    Object.assign(d.state, patch);
    this.components.events.dialogUpdated?.(d);
    return true;
  }

  /**
   * RFC 3261 §13.3.1.4: the 2xx is retransmitted (T1 doubling to T2) until the ACK; no ACK within 64*T1 ends the
   * dialog. Over TCP nothing is retransmitted (the connection is reliable), but the deadline holds all the same.
   */
  private scheduleOk(d: Dialog): void {
    const { clock } = this.components;
    const reliable = d.peer.transport === 'tcp';
    const left = Math.max(0, d.okDeadline - clock.now());
    // the deadline is exact: the last wait is cut short to end at 64*T1
    const wait = reliable ? left : Math.min(d.okInterval, left);
    d.okTimer = clock.setTimeout(() => {
      d.okTimer = undefined;
      if (!d.okBytes) return;
      if (clock.now() >= d.okDeadline) {
        this.closeDialog(d, 'ack-timeout');
        return;
      }
      this.transmit(d.okBytes, d.peer);
      d.okInterval = Math.min(d.okInterval * 2, this.cfg.t2Ms);
      this.scheduleOk(d);
    }, wait);
  }

  /** Re-arms the dialog's idle deadline (every request in the dialog, and its ACK). */
  private touch(d: Dialog): void {
    const { clock } = this.components;
    clock.clearTimeout(d.idleTimer);
    d.idleTimer = clock.setTimeout(() => {
      d.idleTimer = undefined;
      this.closeDialog(d, 'idle-timeout');
    }, this.cfg.dialogIdleMs);
  }

  private onAck(req: SipRequest, txKey: string): void {
    const toTag = tagOf(headerValue(req.headers, 'to'));
    // ACK for a non-2xx final response: same transaction (RFC 3261 §17.2.1)
    const tx = this.transactions.get(txKey.replace(/\nACK$/, '\nINVITE'));
    if (tx && tx.lastStatus >= 300) {
      this.components.clock.clearTimeout(tx.timer);
      tx.timer = this.components.clock.setTimeout(() => this.dropTx(tx), this.cfg.t4Ms);
      tx.last = undefined; // confirmed: absorb further ACKs silently
      return;
    }
    if (toTag === undefined) return;
    const d = this.dialogs.get(dialogKeyOf(req, toTag));
    if (!d) return; // ACK to nothing: no response is allowed
    d.okBytes = undefined;
    this.components.clock.clearTimeout(d.okTimer);
    d.okTimer = undefined;
    this.touch(d);
    this.confirm(d);
  }

  /** The ACK (or, for an adopted dialog whose ACK reached the dead worker, any later request) confirms it. */
  private confirm(d: Dialog): void {
    if (d.state.confirmed) return;
    d.state.confirmed = true;
    delete d.state.answer;
    this.components.events.dialogUpdated?.(d);
  }

  private onCancel(req: SipRequest, peer: Peer, txKey: string): void {
    const tx = this.newTransaction(txKey, req, peer);
    const invite = this.transactions.get(txKey.replace(/\nCANCEL$/, '\nINVITE'));
    if (!invite) {
      this.respond(tx, 481);
      return;
    }
    this.respond(tx, 200);
    if (invite.lastStatus < 200 && invite.answerTimer) {
      this.components.clock.clearTimeout(invite.answerTimer);
      invite.answerTimer = undefined;
      this.respond(invite, 487);
    }
  }

  private inDialog(tx: ServerTransaction, toTag: string): void {
    const req = tx.request;
    const d = this.dialogs.get(dialogKeyOf(req, toTag));
    if (!d) {
      this.counters.noDialog481++;
      this.respond(tx, 481);
      this.components.events.noDialog?.(headerValue(req.headers, 'call-id') ?? '');
      return;
    }
    this.touch(d);
    if (req.method !== 'BYE') {
      if (d.adopted && !d.state.confirmed) {
        // a request in the dialog: the caller had our 2xx, its ACK went to the worker that crashed
        this.components.clock.clearTimeout(d.okTimer);
        d.okTimer = undefined;
        d.okBytes = undefined;
        applyInDialogRequest(d.state, req);
        this.confirm(d);
      } else if (applyInDialogRequest(d.state, req)) this.components.events.dialogUpdated?.(d);
    }
    switch (req.method) {
      case 'BYE':
        this.respond(tx, 200);
        this.closeDialog(d, 'bye');
        return;
      case 'INVITE': {
        // re-INVITE: answer with the same session
        const local = this.components.localAddress(tx.peer.local);
        const media =
          d.conferenceId === undefined ? undefined : this.components.media?.cached(d.conferenceId);
        const ok = this.respond(tx, 200, {
          headers: [
            { name: 'contact', value: `<${contactUri(d.conferenceId, local, this.ownerToken)}>` },
            { name: 'content-type', value: 'application/sdp' },
          ],
          body: media
            ? sdpAnswer(req.body, media.address, 0, media.port)
            : sdpAnswer(req.body, local.address, 0),
        });
        this.components.clock.clearTimeout(d.okTimer);
        d.okBytes = ok;
        d.okInterval = this.cfg.t1Ms;
        d.okDeadline = this.components.clock.now() + 64 * this.cfg.t1Ms;
        this.scheduleOk(d);
        return;
      }
      case 'OPTIONS':
      case 'INFO':
      case 'UPDATE':
      case 'NOTIFY':
      case 'PRACK':
        this.respond(tx, 200);
        return;
      default:
        this.respond(tx, 501, { headers: [allow()] });
    }
  }

  private closeDialog(d: Dialog, why: DialogEnd): void {
    if (!this.dialogs.delete(d.dialogKey)) return;
    if (d.adopted)
      this.adoptedInvites.delete(`${d.callId}\n${d.state.remoteTag}\n${d.state.inviteCSeq ?? d.okCSeq}`);
    this.components.clock.clearTimeout(d.okTimer);
    this.components.clock.clearTimeout(d.idleTimer);
    const n = (this.perSource.get(d.peer.address) ?? 1) - 1;
    if (n > 0) this.perSource.set(d.peer.address, n);
    else this.perSource.delete(d.peer.address);
    const conf = d.conferenceId === undefined ? undefined : this.conferences.get(d.conferenceId);
    if (conf) {
      conf.delete(d.dialogKey);
      if (conf.size === 0) {
        this.conferences.delete(d.conferenceId!);
        this.components.media?.release(d.conferenceId!);
      }
    }
    this.components.events.dialogClosed(d, why);
  }

  private newTransaction(key: string, req: SipRequest, peer: Peer): ServerTransaction {
    const tx: ServerTransaction = {
      key,
      method: req.method,
      peer,
      request: req,
      last: undefined,
      lastStatus: 0,
      timer: undefined,
      answerTimer: undefined,
      toTag: tagOf(headerValue(req.headers, 'to')) ?? newTag(),
      done: false,
    };
    this.transactions.set(key, tx);
    return tx;
  }

  private respond(
    tx: ServerTransaction,
    status: number,
    init: { headers?: SipHeader[]; body?: Buffer } = {},
  ): Buffer {
    const res = buildResponse(tx.request, status, {
      toTag: tx.toTag,
      headers: init.headers,
      body: init.body,
      viaReceived: tx.peer.transport === 'udp' ? tx.peer : undefined,
    });
    const bytes = serializeSipMessage(res);
    tx.last = bytes;
    tx.lastStatus = status;
    this.transmit(bytes, tx.peer);
    if (status >= 200) this.completeTx(tx, status);
    return bytes;
  }

  private completeTx(tx: ServerTransaction, status: number): void {
    if (tx.done) return;
    tx.done = true;
    const { clock } = this.components;
    const reliable = tx.peer.transport === 'tcp';
    if (tx.method === 'INVITE' && status >= 300) {
      // Timer G retransmits the final response until ACK; Timer H (64*T1) gives up (RFC 3261 §17.2.1)
      const deadline = clock.now() + 64 * this.cfg.t1Ms;
      let interval = this.cfg.t1Ms;
      const tick = () => {
        if (!tx.last || clock.now() >= deadline) {
          this.dropTx(tx);
          return;
        }
        if (!reliable) this.transmit(tx.last, tx.peer);
        interval = Math.min(interval * 2, this.cfg.t2Ms);
        tx.timer = clock.setTimeout(tick, interval);
      };
      tx.timer = clock.setTimeout(tick, interval);
      return;
    }
    // 2xx to INVITE (RFC 6026 Accepted) and non-INVITE (Timer J): absorb retransmissions for 64*T1 on UDP
    tx.timer = clock.setTimeout(() => this.dropTx(tx), reliable ? 0 : 64 * this.cfg.t1Ms);
  }

  private dropTx(tx: ServerTransaction): void {
    this.clearTx(tx);
    if (this.transactions.get(tx.key) === tx) this.transactions.delete(tx.key);
  }

  private clearTx(tx: ServerTransaction): void {
    this.components.clock.clearTimeout(tx.timer);
    this.components.clock.clearTimeout(tx.answerTimer);
    tx.timer = undefined;
    tx.answerTimer = undefined;
  }

  private transmit(bytes: Buffer, peer: Peer): void {
    this.counters.responsesSent++;
    this.components.send(bytes, peer);
  }
}

/** Server transaction key (RFC 3261 §17.2.3): top Via branch + sent-by + method; ACK/CANCEL keyed apart. */
export function transactionKey(req: SipRequest, peer: Peer): string {
  const via = topVia(req.headers) ?? '';
  const branch = viaBranch(via);
  if (branch && branch.startsWith('z9hG4bK')) {
    const sentBy = /^SIP\/2\.0\/[A-Za-z]+\s+([^;\s]+)/i.exec(via)?.[1] ?? '';
    return `${branch}\n${sentBy}\n${req.method}`;
  }
  // RFC 2543 peers: no magic cookie — fall back on the request's identity
  const cseq = parseCSeq(headerValue(req.headers, 'cseq'))?.seq ?? 0;
  return `${headerValue(req.headers, 'call-id') ?? ''}\n${cseq}\n${peer.address}:${peer.port}\n${req.method}`;
}

/** An INVITE's identity without its To tag: Call-ID, From tag, CSeq number. */
function inviteKey(req: SipRequest): string {
  const cseq = parseCSeq(headerValue(req.headers, 'cseq'))?.seq ?? 0;
  return `${headerValue(req.headers, 'call-id') ?? ''}\n${tagOf(headerValue(req.headers, 'from')) ?? ''}\n${cseq}`;
}

function dialogKeyOf(req: SipRequest, toTag: string): string {
  return `${headerValue(req.headers, 'call-id') ?? ''}\n${tagOf(headerValue(req.headers, 'from')) ?? ''}\n${toTag}`;
}

/** Unique per process start (random) and per tag (counter): no crypto call per transaction. */
const TAG_PREFIX = randomBytes(4).toString('hex');
let tagCounter = 0;
function newTag(): string {
  tagCounter = (tagCounter + 1) >>> 0;
  return `${TAG_PREFIX}${tagCounter.toString(16).padStart(8, '0')}`;
}

function allow(): SipHeader {
  return allowHeader();
}

/**
 * Our Contact: the conference's URI on this service address, or the bare address for a dialog without one; with a
 * POP, the owner token (C9) as a URI parameter, so in-dialog requests (whose Request-URI is this Contact) name the
 * host that owns them wherever they land.
 */
function contactUri(
  conference: string | undefined,
  local: { address: string; port: number },
  ownerToken?: string,
): string {
  const uri = conference === undefined ? `sip:${hostPort(local)}` : `sip:${conference}@${hostPort(local)}`;
  return ownerContact(uri, ownerToken);
}

function hostPort(a: { address: string; port: number }): string {
  return a.address.includes(':') ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

function withExpires(contact: string, expires: string | undefined): string {
  if (/;\s*expires=/i.test(contact) || contact === '*') return contact;
  return `${contact};expires=${expires && /^\d+$/.test(expires) ? expires : '3600'}`;
}

/**
 * SDP answer (RFC 3264): one answer line per offered m= line, keeping the first codec; no offer gives a PCMU offer.
 * With a mixer (worker/media.ts) `address`/`mediaPort` are its RTP address; without one the port is nominal.
 */
export function sdpAnswer(offer: Buffer, address: string, n: number, mediaPort?: number): Buffer {
  const ip = address.includes(':') ? `IP6 ${address}` : `IP4 ${address}`;
  const port = mediaPort ?? 20000 + ((n * 2) % 20000);
  const lines = [`v=0`, `o=switchyard 1 1 IN ${ip}`, `s=switchyard conference`, `c=IN ${ip}`, `t=0 0`];
  const media = offer
    .toString('utf8')
    .split(/\r?\n/)
    .filter((l) => l.startsWith('m='));
  if (media.length === 0) {
    lines.push(`m=audio ${port} RTP/AVP 0`, 'a=rtpmap:0 PCMU/8000');
  } else {
    for (const m of media) {
      const parts = m.slice(2).split(' ');
      const [type = 'audio', , proto = 'RTP/AVP', first = '0'] = parts;
      lines.push(`m=${type} ${port} ${proto} ${first}`);
    }
  }
  return Buffer.from(lines.join('\r\n') + '\r\n');
}
