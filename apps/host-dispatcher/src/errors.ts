/** Error codes of the host dispatcher (each documented in docs/host-dispatcher.md and the project README). */
import { SwitchyardError } from '@switchyard/core';

export const DispatcherErrors = {
  DSP_ERR_BAD_LISTEN: 'a `--listen` address is not `host:port`',
  DSP_ERR_BIND: 'the service address could not be bound (in use, or not a local address)',
  DSP_ERR_WORKER_START: 'a worker process did not become ready in time',
  DSP_ERR_NO_WORKER: 'no worker with that id',
  DSP_ERR_STATE: 'start/stop called in the wrong state',
  DSP_ERR_MEDIA_UNAVAILABLE: 'the balancer has no mixer now (it answered 503): the INVITE gets 503',
  DSP_ERR_MEDIA_FAILED: 'the balancer was unreachable, timed out, or answered without an RTP address',
} as const;
export type DispatcherErrorCode = keyof typeof DispatcherErrors;
export class DispatcherError extends SwitchyardError<DispatcherErrorCode> {}
