/**
 * @switchyard/host-dispatcher: tier 3. A primary process binds the SIP service address, forks SIP worker processes
 * and passes them the bound UDP socket; it forwards each datagram over SOCK_SEQPACKET to the worker holding its
 * conference or dialog, and hands whole TCP connections over after their first message.
 *
 * @example
 * ```ts
 * import { DispatcherService, parseDispatcherConfig } from '@switchyard/host-dispatcher';
 * const svc = new DispatcherService({ logger }, parseDispatcherConfig({ listen: ['127.0.0.1:5060'], minWorkers: 2 }));
 * await svc.start();
 * svc.dispatcher.on('sessionOpened', (e) => console.log(e.conferenceId, e.worker));
 * ```
 */
export * from './config.js';
export * from './errors.js';
export * from './worker/media.js';
export * from './worker/media-move.js';
export * from './session-host.js';
export {
  Dispatcher,
  PRIMARY_DEFAULTS,
  type DispatcherComponents,
  type WorkerView,
} from './primary/dispatcher.js';
export * from './pool/worker-pool.js';
export * from './overload/admission.js';
export { DispatcherMetrics } from './metrics.js';
export { UdpIngress, type UdpIngressComponents, type UdpIngressInit } from './ingress/udp-ingress.js';
export {
  decideRoute,
  type IngressDecision,
  type IngressPacket,
  type PopRouting,
  type PopVerdict,
} from './ingress/routing.js';
export { AffinityRouter, type RouteDecision, type Violation } from './primary/router.js';
export { DispatcherService } from './service.js';
export { buildControlApi, type ControlTarget } from './control/api.js';
export type { WorkerState, WorkerConference } from './ipc.js';
export * from './sip/message.js';
export * from './sip/framing.js';
export {
  SipUas,
  UAS_DEFAULTS,
  sdpAnswer,
  transactionKey,
  type Peer,
  type UasInit,
  type UasEvents,
  type DialogInfo,
  type DialogEnd,
} from './worker/uas.js';
export * from './worker/dialog-state.js';
export { MirrorOutbox } from './worker/mirror-outbox.js';
export * from './primary/dialog-mirror.js';
export {
  FRAME_HELLO,
  FRAME_INJECTED,
  FRAME_UDP,
  FRAME_SESSION,
  FRAME_MIRROR,
  FRAME_FIXED,
  FRAME_MAX_ADDR,
  POP_HELLO,
  readFrameHeader,
  writeFrameHeader,
  type FrameHeader,
  type MirrorFrame,
} from './ipc.js';
export * from './steering/steering-table.js';
export * from './steering/steered-verdict.js';
export {
  SteeredSockets,
  type SteeredSocketsComponents,
  type SteeredSocketsInit,
} from './steering/steered-sockets.js';
export { HeldCounts } from './steering/held-counts.js';
export { FRAME_BOUNCED, FRAME_BOUNCED_UNDELEGATE } from './ipc.js';
