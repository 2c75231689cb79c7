/** Hand-written SIP messages for unit tests (what SIPp's uac sends, give or take). */
export function invite(
  o: {
    callId?: string;
    conf?: string;
    branch?: string;
    fromTag?: string;
    toTag?: string;
    cseq?: number;
    method?: string;
    body?: string;
    /** Request-URI (default `sip:<conf>@127.0.0.1:5060`). */
    uri?: string;
  } = {},
): Buffer {
  const method = o.method ?? 'INVITE';
  const body =
    o.body ??
    (method === 'INVITE'
      ? 'v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8\r\n'
      : '');
  const lines = [
    `${method} ${o.uri ?? `sip:${o.conf ?? 'conf-7'}@127.0.0.1:5060`} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5080;branch=${o.branch ?? 'z9hG4bK-1'}`,
    `From: sipp <sip:sipp@127.0.0.1:5080>;tag=${o.fromTag ?? 'ft1'}`,
    `To: <sip:${o.conf ?? 'conf-7'}@127.0.0.1:5060>${o.toTag ? `;tag=${o.toTag}` : ''}`,
    `Call-ID: ${o.callId ?? 'call-1@127.0.0.1'}`,
    `CSeq: ${o.cseq ?? 1} ${method === 'ACK' && !o.toTag ? 'ACK' : method}`,
    'Contact: <sip:sipp@127.0.0.1:5080>',
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ];
  return Buffer.from(lines.join('\r\n'));
}
