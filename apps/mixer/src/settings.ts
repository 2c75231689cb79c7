/** The mixer's settings, declared once: flags, env, --help, defaults and validation all derive from this. */
import fs from 'node:fs';
import os from 'node:os';
import { Type, type Static } from '@sinclair/typebox';
import { ConfigError, defineSettings, setting } from '@switchyard/core';
import { LINK_DEFAULTS } from '@switchyard/container-link';
import { MIXER_DEFAULTS as D } from './defaults.js';

const int = (min: number, max = 2 ** 31 - 1) => Type.Integer({ minimum: min, maximum: max });

export const MixerSettings = defineSettings({
  name: 'mixer',
  summary: 'tier 4 sample workload: a conference RTP relay that dials in to the container balancer',
  schema: Type.Object({
    id: setting(
      Type.String({ pattern: '^[A-Za-z0-9._:-]{1,128}$' }),
      `mixer-${os.hostname()}`,
      'container id registered with the balancer (unique)',
      'MIXER_ID',
    ),
    mode: setting(
      Type.Union([Type.Literal('direct'), Type.Literal('reverse')]),
      'direct',
      'direct: serve HTTP on --host/--port; reverse: serve HTTP/2 over the dialed connection',
      'MIXER_MODE',
    ),
    host: setting(
      Type.String({ minLength: 1 }),
      '127.0.0.1',
      'HTTP listen address (direct mode)',
      'MIXER_HOST',
    ),
    port: setting(int(0, 65535), 0, 'HTTP listen port (direct mode; 0 = any free port)', 'MIXER_PORT'),
    advertise: setting(
      Type.String(),
      '',
      'host:port the balancer dials (direct mode; default: the listen address)',
      'MIXER_ADVERTISE',
    ),
    balancer: setting(
      Type.String({ pattern: '^[A-Za-z0-9.-]+:\\d{1,5}$' }),
      '127.0.0.1:8701',
      "the balancer's registration address host:port",
      'MIXER_BALANCER',
    ),
    balancerCaFile: setting(
      Type.String(),
      '',
      "PEM CA that signed the balancer's certificate: dial the balancer over TLS; empty = plain TCP",
      'MIXER_BALANCER_CA_FILE',
    ),
    balancerServerName: setting(
      Type.String(),
      '',
      "name the balancer's certificate must carry (TLS; default: the host of --balancer)",
      'MIXER_BALANCER_SERVER_NAME',
    ),
    registrationToken: setting(
      Type.String(),
      '',
      'registration token (prefer the file)',
      'MIXER_REGISTRATION_TOKEN',
      { secret: true },
    ),
    registrationTokenFile: setting(
      Type.String(),
      '',
      'file holding the registration token',
      'MIXER_REGISTRATION_TOKEN_FILE',
    ),
    rtpHost: setting(
      Type.String({ minLength: 1 }),
      '127.0.0.1',
      'address the RTP sockets bind to',
      'MIXER_RTP_HOST',
    ),
    rtpAdvertise: setting(
      Type.String(),
      '',
      'RTP address given to participants (default: --rtp-host)',
      'MIXER_RTP_ADVERTISE',
    ),
    maxConferences: setting(
      int(1, 60_000),
      D.maxConferences,
      'conferences at most (the capacity registered)',
      'MIXER_MAX_CONFERENCES',
    ),
    maxParticipants: setting(
      int(2, 1024),
      D.maxParticipants,
      'participants per conference at most',
      'MIXER_MAX_PARTICIPANTS',
    ),
    participantIdleMs: setting(
      int(10),
      D.participantIdleMs,
      'a silent participant leaves after this',
      'MIXER_PARTICIPANT_IDLE_MS',
    ),
    heartbeatMs: setting(
      int(10),
      LINK_DEFAULTS.heartbeatMs,
      'full registration record sent this often',
      'MIXER_HEARTBEAT_MS',
    ),
    reconnectMs: setting(
      int(10),
      LINK_DEFAULTS.reconnectMs,
      'redial the balancer after this',
      'MIXER_RECONNECT_MS',
    ),
    statsEveryMs: setting(
      int(10),
      D.statsEveryMs,
      'packets/s measured and reported at this period',
      'MIXER_STATS_EVERY_MS',
    ),
  }),
  examples: [
    'mixer --id mixer-1 --balancer 127.0.0.1:8701 --registration-token-file /run/secrets/reg --port 8000',
  ],
});

export type MixerSettingsValues = Static<typeof MixerSettings.schema>;
export interface MixerConfig extends MixerSettingsValues {
  registrationTokenValue: string;
  /** The CA (PEM) the balancer's certificate must chain to, read once; undefined = plain TCP. */
  balancerCaValue: string | undefined;
}

/** Reads the token (flag, env or file) once. Throws ConfigError naming the field. */
export function resolveMixerConfig(values: Readonly<MixerSettingsValues>): Readonly<MixerConfig> {
  let token = values.registrationToken;
  if (!token && values.registrationTokenFile) {
    try {
      token = fs.readFileSync(values.registrationTokenFile, 'utf8').trim();
    } catch (err) {
      throw new ConfigError(
        'registrationTokenFile',
        `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
  }
  if (!token)
    throw new ConfigError(
      'registrationToken',
      'a registration token is required (--registration-token-file or env)',
    );
  if (values.balancerServerName && !values.balancerCaFile)
    throw new ConfigError('balancerServerName', 'needs --balancer-ca-file (it names the TLS certificate)');
  let ca: string | undefined;
  if (values.balancerCaFile) {
    try {
      ca = fs.readFileSync(values.balancerCaFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'balancerCaFile',
        `cannot read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    if (!ca.includes('-----BEGIN CERTIFICATE-----'))
      throw new ConfigError('balancerCaFile', 'is not a PEM certificate');
  }
  return Object.freeze({ ...values, registrationTokenValue: token, balancerCaValue: ca });
}
