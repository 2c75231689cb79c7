/**
 * The SIP keep-alive probe (contract C1): one UDP socket sends `OPTIONS sip:<address>` and matches responses to
 * requests by Call-ID. Any SIP response (any status, RFC 3261 §11.2: a 200 or a 483 alike prove a SIP stack is
 * there) within the timeout counts as alive; nothing, or ICMP unreachable, does not. The request carries `rport`
 * (RFC 3581), so the server answers to the socket's source address wherever the Via says it is.
 */
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import type { Clock, Startable, TimerHandle } from '@switchyard/core';

interface Waiting {
  resolve: (ok: boolean) => void;
  timer: TimerHandle;
}

export interface SipOptionsProbeInit {
  /** Address the socket binds to (its port is any free one); also the Via's sent-by host. Default '0.0.0.0'. */
  host?: string;
}

export class SipOptionsProbe implements Startable {
  private socket: dgram.Socket | undefined;
  private readonly waiting = new Map<string, Waiting>();
  private sentBy = '';
  /** Datagrams received that were no response to a probe of ours (counted, ignored). */
  strays = 0;

  constructor(
    private readonly components: { clock: Clock },
    private readonly init: SipOptionsProbeInit = {},
  ) {}

  async start(): Promise<void> {
    if (this.socket) return;
    const host = this.init.host ?? '0.0.0.0';
    const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.on('message', (msg) => this.onMessage(msg));
    sock.on('error', () => undefined); // ICMP errors surface per send; a probe without an answer times out
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    const a = sock.address();
    this.sentBy = `${a.address === '0.0.0.0' ? '127.0.0.1' : a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`;
    this.socket = sock;
  }

  async stop(): Promise<void> {
    for (const [, w] of this.waiting) {
      this.components.clock.clearTimeout(w.timer);
      w.resolve(false);
    }
    this.waiting.clear();
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }

  /** Sends one OPTIONS to `address` (`host:port`); resolves true on any SIP response within `timeoutMs`. */
  probe(address: string, timeoutMs: number): Promise<boolean> {
    const sock = this.socket;
    const target = splitHostPort(address);
    if (!sock || !target) return Promise.resolve(false);
    const callId = `${randomBytes(12).toString('hex')}@switchyard-scheduler`;
    const branch = `z9hG4bK${randomBytes(8).toString('hex')}`;
    const tag = randomBytes(6).toString('hex');
    const uri = `sip:${address}`;
    const msg =
      `OPTIONS ${uri} SIP/2.0\r\n` +
      `Via: SIP/2.0/UDP ${this.sentBy};branch=${branch};rport\r\n` +
      `Max-Forwards: 70\r\n` +
      `From: <sip:keepalive@${this.sentBy}>;tag=${tag}\r\n` +
      `To: <${uri}>\r\n` +
      `Call-ID: ${callId}\r\n` +
      `CSeq: 1 OPTIONS\r\n` +
      `Accept: application/sdp\r\n` +
      `User-Agent: switchyard-global-scheduler\r\n` +
      `Content-Length: 0\r\n\r\n`;
    return new Promise<boolean>((resolve) => {
      const timer = this.components.clock.setTimeout(() => this.settle(callId, false), timeoutMs);
      this.waiting.set(callId, { resolve, timer });
      sock.send(msg, target.port, target.host, (err) => {
        if (err) this.settle(callId, false);
      });
    });
  }

  /** Outstanding probes (for tests and the overrun warning). */
  get inFlight(): number {
    return this.waiting.size;
  }

  private settle(callId: string, ok: boolean): void {
    const w = this.waiting.get(callId);
    if (!w) return;
    this.waiting.delete(callId);
    this.components.clock.clearTimeout(w.timer);
    w.resolve(ok);
  }

  private onMessage(msg: Buffer): void {
    const callId = responseCallId(msg);
    if (callId === undefined || !this.waiting.has(callId)) {
      this.strays++;
      return;
    }
    this.settle(callId, true);
  }
}

/** The Call-ID of a SIP response (status line `SIP/2.0 NNN`), or undefined when it is not one. */
export function responseCallId(msg: Buffer): string | undefined {
  const head = msg.toString('latin1', 0, Math.min(msg.length, 4096));
  if (!/^SIP\/2\.0 [1-6][0-9]{2} /.test(head)) return undefined;
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (name === 'call-id' || name === 'i') return line.slice(colon + 1).trim();
  }
  return undefined;
}

function splitHostPort(address: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]+?)\]?:([0-9]{1,5})$/.exec(address);
  if (!m) return undefined;
  const port = Number(m[2]);
  return port > 0 && port < 65536 ? { host: m[1]!, port } : undefined;
}
