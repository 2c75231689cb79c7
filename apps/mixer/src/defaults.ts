/** The mixer's defaults, one comment per value, plus a test profile. */
export const MIXER_DEFAULTS = Object.freeze({
  maxConferences: 200, // one UDP socket each; the capacity registered with the balancer
  maxParticipants: 32, // per conference; an SFU fan-out of n-1 copies per packet bounds this
  participantIdleMs: 30_000, // a source silent this long leaves its conference (a participant may re-join by sending)
  minPacketBytes: 12, // the fixed RTP header (RFC 3550 §5.1); shorter datagrams are not RTP
  maxPacketBytes: 1500, // larger than an Ethernet MTU payload is not RTP we relay
  statsEveryMs: 1000, // packets/s is measured and reported at this period
});

export const MIXER_TEST_PROFILE = Object.freeze({
  ...MIXER_DEFAULTS,
  participantIdleMs: 2000,
  statsEveryMs: 200,
});
