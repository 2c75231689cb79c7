/**
 * The state of one dialog held by a worker's UAS, as mirrored out of the worker (issue 9 §6) and as other worker
 * code reads it (e.g. re-INVITEs of participants after a mixer died need the remote target, route set and local
 * CSeq). Plain JSON: it travels worker → primary over IPC and primary → heir worker over the seqpacket socket.
 *
 * Stable: fields are only ever added (optional), never renamed or removed.
 */
import { headerValue, headerValues, parseCSeq, tagOf, type SipRequest } from '../sip/message.js';

export interface DialogPeer {
  readonly transport: 'udp' | 'tcp';
  readonly address: string;
  readonly port: number;
  /** Index of the service address (bound socket) the dialog's INVITE arrived on; the same in every worker. */
  readonly local: number;
}

export interface DialogMedia {
  readonly address: string;
  readonly port: number;
  readonly containerId: string;
}

export interface DialogState {
  readonly callId: string;
  /** Our tag: the To tag of our 2xx. */
  readonly localTag: string;
  /** The caller's tag: the From tag of the INVITE. */
  readonly remoteTag: string;
  /** The From URI (name-addr as received): the remote party. */
  readonly remoteUri: string;
  /** The To URI (name-addr as received, without our tag): us. */
  readonly localUri: string;
  /** The Contact URI of the INVITE, or of the last target refresh (re-INVITE, UPDATE): where our requests go. */
  remoteTarget: string;
  /** Record-Route entries of the INVITE in the order received (RFC 3261 §12.1.1, the UAS's route set). */
  readonly routeSet: readonly string[];
  /** CSeq number of the INVITE that created the dialog (its retransmissions are recognised by it). */
  readonly inviteCSeq?: number;
  /** Highest CSeq number received in the dialog. */
  remoteCSeq: number;
  /** CSeq number of the last request we sent in the dialog (0: none yet; the focus sends none by itself). */
  localCSeq: number;
  /** The conference the primary routed the INVITE by; absent when its Request-URI has no user part. */
  readonly conferenceId?: string;
  /** Where the dialog's INVITE came from (responses without a request go there). */
  readonly peer: DialogPeer;
  /** The ACK to our 2xx arrived. */
  confirmed: boolean;
  /** The conference's mixer (contract C7) when the worker allocated one. */
  media?: DialogMedia;
  /**
   * Over UDP, until the ACK: our 2xx to the INVITE (latin1). A worker that adopts the dialog unconfirmed sends it
   * again until the ACK (RFC 3261 §13.3.1.4), so a caller whose 2xx was lost with the dead worker still gets it.
   */
  answer?: string;
  /**
   * The `m=` lines of the caller's SDP offer (CRLF-joined; at most {@link OFFER_MEDIA_LINES} lines of
   * {@link OFFER_MEDIA_LINE_BYTES} bytes each; empty when the INVITE had no offer): what the media mover's re-INVITE
   * offer is shaped from, so a worker that adopts the dialog can re-INVITE it when its mixer dies. Absent in states
   * mirrored by an older worker (such a dialog is not re-INVITEd after a hand-over).
   */
  offerMedia?: string;
}

/** Most `m=` lines of an offer mirrored (a conference participant offers one or two streams). */
export const OFFER_MEDIA_LINES = 8;
/** Longest `m=` line mirrored (longer ones are cut: only media type, proto and first format are used). */
export const OFFER_MEDIA_LINE_BYTES = 128;

/** The bounded `m=` lines of an SDP body (see {@link DialogState.offerMedia}). */
export function offerMediaOf(body: Buffer): string {
  if (!body.length) return '';
  return body
    .toString('latin1', 0, Math.min(body.length, 64 * 1024))
    .split(/\r?\n/)
    .filter((l) => l.startsWith('m='))
    .slice(0, OFFER_MEDIA_LINES)
    .map((l) => l.slice(0, OFFER_MEDIA_LINE_BYTES))
    .join('\r\n');
}

/** `callId \n remoteTag \n localTag`: the UAS's dialog key (RFC 3261 §12: Call-ID, remote tag, local tag). */
export function dialogStateKey(s: Pick<DialogState, 'callId' | 'remoteTag' | 'localTag'>): string {
  return `${s.callId}\n${s.remoteTag}\n${s.localTag}`;
}

/** The state of the dialog our 2xx to `req` creates (RFC 3261 §12.1.1). */
export function dialogStateOfInvite(
  req: SipRequest,
  peer: DialogPeer,
  localTag: string,
  conferenceId: string | undefined,
): DialogState {
  const to = headerValue(req.headers, 'to') ?? '';
  const state: DialogState = {
    callId: headerValue(req.headers, 'call-id') ?? '',
    localTag,
    remoteTag: tagOf(headerValue(req.headers, 'from')) ?? '',
    remoteUri: headerValue(req.headers, 'from') ?? '',
    localUri: to,
    remoteTarget: contactTarget(req) ?? '',
    routeSet: headerValues(req.headers, 'record-route').flatMap(splitHeaderList),
    inviteCSeq: parseCSeq(headerValue(req.headers, 'cseq'))?.seq ?? 0,
    remoteCSeq: parseCSeq(headerValue(req.headers, 'cseq'))?.seq ?? 0,
    localCSeq: 0,
    peer: { transport: peer.transport, address: peer.address, port: peer.port, local: peer.local },
    confirmed: false,
    offerMedia: offerMediaOf(req.body),
  };
  return conferenceId === undefined ? state : { ...state, conferenceId };
}

/**
 * A request in the dialog: the remote CSeq advances and a target refresh (re-INVITE, UPDATE with Contact) moves the
 * remote target. Returns true when the state changed.
 */
export function applyInDialogRequest(s: DialogState, req: SipRequest): boolean {
  let changed = false;
  const seq = parseCSeq(headerValue(req.headers, 'cseq'))?.seq;
  if (seq !== undefined && seq > s.remoteCSeq) {
    s.remoteCSeq = seq;
    changed = true;
  }
  if (req.method === 'INVITE' || req.method === 'UPDATE') {
    const target = contactTarget(req);
    if (target !== undefined && target !== s.remoteTarget) {
      s.remoteTarget = target;
      changed = true;
    }
  }
  return changed;
}

/** The URI of the first Contact (inside `<>` when it has them). */
function contactTarget(req: SipRequest): string | undefined {
  const c = headerValue(req.headers, 'contact');
  if (c === undefined) return undefined;
  const first = splitHeaderList(c)[0] ?? '';
  const lt = first.indexOf('<');
  const gt = first.indexOf('>', lt + 1);
  if (lt >= 0 && gt > lt) return first.slice(lt + 1, gt);
  return first.split(';')[0]!.trim();
}

/** Splits a comma-separated header value on the commas outside quotes and angle brackets. */
export function splitHeaderList(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === '<') angle = true;
    else if (c === '>') angle = false;
    else if (c === ',' && !angle) {
      out.push(value.slice(start, i).trim());
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last) out.push(last);
  return out.filter((s) => s.length > 0);
}
