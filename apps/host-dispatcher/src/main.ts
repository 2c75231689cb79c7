#!/usr/bin/env node
/** `host-dispatcher`: the primary process. See docs/host-dispatcher.md. */
import { createLogger, parseCli, stopOnSignals, type CliSpec } from '@switchyard/core';
import { DISPATCHER_DEFAULTS, parseDispatcherConfig } from './config.js';
import { DispatcherService } from './service.js';
import { MediaSettings, splitMediaFlags } from './worker/media.js';

const d = DISPATCHER_DEFAULTS;
export const CLI: CliSpec = {
  name: 'host-dispatcher',
  summary: 'SIP dispatcher: forks SIP workers and routes every message of a conference to one of them',
  options: {
    ...MediaSettings.cli.options, // C7: --balancer-url, --balancer-token, --media-service, --media-timeout-ms
    listen: {
      type: 'string',
      multiple: true,
      env: 'SIPDISP_LISTEN',
      doc: 'SIP address (UDP+TCP), repeatable',
      defaultText: d.listen.join(','),
    },
    'control-host': {
      type: 'string',
      env: 'SIPDISP_CONTROL_HOST',
      doc: 'control API host',
      defaultText: d.controlHost,
    },
    'control-port': {
      type: 'string',
      env: 'SIPDISP_CONTROL_PORT',
      doc: 'control API port (0: any)',
      defaultText: String(d.controlPort),
    },
    'control-token': { type: 'string', env: 'SIPDISP_CONTROL_TOKEN', doc: 'bearer token for drain/restart' },
    'min-workers': {
      type: 'string',
      env: 'SIPDISP_MIN_WORKERS',
      doc: 'workers kept at least',
      defaultText: String(d.minWorkers),
    },
    'spare-workers': {
      type: 'string',
      env: 'SIPDISP_SPARE_WORKERS',
      doc: 'hot spare workers (take over at once after a crash)',
      defaultText: String(d.spareWorkers),
    },
    'max-workers': {
      type: 'string',
      env: 'SIPDISP_MAX_WORKERS',
      doc: 'workers at most',
      defaultText: String(d.maxWorkers),
    },
    'load-threshold': {
      type: 'string',
      env: 'SIPDISP_LOAD_THRESHOLD',
      doc: 'Call-ID bindings per worker before scaling up',
      defaultText: String(d.loadThreshold),
    },
    'max-message-bytes': {
      type: 'string',
      env: 'SIPDISP_MAX_MESSAGE_BYTES',
      doc: 'largest SIP message accepted',
      defaultText: String(d.maxMessageBytes),
    },
    'tcp-first-message-ms': {
      type: 'string',
      doc: 'deadline for a TCP peer first message',
      defaultText: String(d.tcpFirstMessageMs),
    },
    'binding-idle-ms': {
      type: 'string',
      doc: 'idle lifetime of a binding without dialog',
      defaultText: String(d.bindingIdleMs),
    },
    'drain-timeout-ms': {
      type: 'string',
      env: 'SIPDISP_DRAIN_TIMEOUT_MS',
      doc: 'how long dialogs may finish on drain',
      defaultText: String(d.drainTimeoutMs),
    },
    'worker-start-timeout-ms': {
      type: 'string',
      env: 'SIPDISP_WORKER_START_TIMEOUT_MS',
      doc: 'a worker must report ready within this (a loaded machine needs more)',
      defaultText: String(d.workerStartTimeoutMs),
    },
    't1-ms': { type: 'string', doc: 'SIP T1 in the workers', defaultText: String(d.t1Ms) },
    'answer-delay-ms': {
      type: 'string',
      doc: 'delay between 180 and 200 in the workers',
      defaultText: String(d.answerDelayMs),
    },
    'no-ringing': {
      type: 'boolean',
      doc: 'workers answer 100 then 200, without 180 (benchmarks behind reordering proxies)',
      field: 'noRinging',
    },
    'runtime-dir': {
      type: 'string',
      doc: 'directory for the worker seqpacket socket',
      defaultText: 'a temp dir',
    },
  },
  examples: [
    'host-dispatcher --listen 127.0.0.1:5060 --min-workers 2 --control-port 8060 --control-token s3cret',
    'sipp -sn uac 127.0.0.1:5060 -s conf-7 -m 10 -r 5 -nostdin',
  ],
};

async function main(): Promise<void> {
  const cli = parseCli(CLI, process.argv.slice(2));
  if (cli.help) {
    process.stdout.write(cli.text);
    return;
  }
  const media = splitMediaFlags(cli.values);
  Object.assign(process.env, media.env); // the workers inherit them
  const { noRinging, ...values } = media.rest;
  const config = parseDispatcherConfig({ ...values, ...(noRinging === true ? { ringing: false } : {}) });
  const logger = createLogger('host-dispatcher');
  const service = new DispatcherService({ logger }, config);
  stopOnSignals(service, logger, config.drainTimeoutMs + 10_000);
  await service.start();
}

main().catch((err: unknown) => {
  process.stderr.write(`host-dispatcher: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
