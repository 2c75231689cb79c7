#!/usr/bin/env node
/**
 * `sip-worker-standalone`: one SIP worker on its own address, no dispatcher (benchmark baselines). With
 * `--cluster N`, N copies behind Node's `cluster` module (TCP only, round-robin hand-off by the cluster primary).
 */
import cluster from 'node:cluster';
import { parseCli } from '@switchyard/core';
import { parseListen } from './config.js';
import { StandaloneSipServer } from './standalone/standalone-server.js';

const cli = parseCli(
  {
    name: 'sip-worker-standalone',
    summary: 'one SIP UAS / conference focus listening directly (no dispatcher)',
    options: {
      listen: { type: 'string', doc: 'host:port for UDP and TCP', defaultText: '127.0.0.1:5070' },
      cluster: { type: 'string', doc: 'run N workers under node:cluster (TCP only)' },
      'no-ringing': { type: 'boolean', doc: 'answer 100 then 200, without 180', field: 'noRinging' },
      'no-udp': { type: 'boolean', doc: 'TCP only', field: 'noUdp' },
    },
  },
  process.argv.slice(2),
);
if (cli.help) {
  process.stdout.write(cli.text);
  process.exit(0);
}
const v = cli.values as { listen?: string; cluster?: string; noUdp?: boolean; noRinging?: boolean };
const { host, port } = parseListen(v.listen ?? '127.0.0.1:5070');
const n = Number(v.cluster ?? 0);

if (n > 0 && cluster.isPrimary) {
  for (let i = 0; i < n; i++) cluster.fork();
  let ready = 0;
  cluster.on('listening', () => {
    if (++ready === n) process.stdout.write(`ready ${host}:${port} cluster=${n}\n`);
  });
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const server = new StandaloneSipServer({
    host,
    port,
    udp: n > 0 ? false : !v.noUdp,
    uas: { ringing: v.noRinging !== true },
  });
  server.start().then(
    () => {
      if (n === 0) process.stdout.write(`ready ${host}:${port}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`sip-worker-standalone: ${String(err)}\n`);
      process.exit(1);
    },
  );
  process.on('SIGTERM', () => void server.stop().then(() => process.exit(0)));
}
