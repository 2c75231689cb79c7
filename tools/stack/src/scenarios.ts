/**
 * SIPp scenarios of the composed system. `uacRtpScenario`: SIPp's built-in `uac_pcap` made usable anywhere: INVITE
 * with an SDP offer, ACK, then RTP (G.711 A-law from the pcap Debian's sip-tester ships) to the address the 200's SDP
 * gave (the mixer's), a pause, BYE. SIPp plays the pcap from its media port (`-mp`) to the answered address.
 */
export const G711_PCAP = '/usr/share/sip-tester/g711a.pcap';

export function uacRtpScenario(o: {
  pauseMs: number;
  pcap?: string;
  /**
   * The participant then waits (at most this long, else the call fails) for a re-INVITE in its dialog (the worker
   * moving the conference to a new mixer), answers 200 with its SDP to the re-INVITE's Via, takes the ACK and plays
   * the pcap again to the address the re-INVITE's SDP gave (SIPp takes the remote media address from any SDP it
   * receives), then pauses; its BYE goes to the host that sent the re-INVITE.
   */
  reinviteWaitMs?: number;
  /**
   * With `reinviteWaitMs`: the re-INVITE may not come (a participant that joined after the worker already moved the
   * conference to a new mixer gets none); when the wait ends without one, the call goes on to its pause and BYE.
   */
  reinviteOptional?: boolean;
}): string {
  const from = 'From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]';
  const to = 'To: [service] <sip:[service]@[remote_ip]:[remote_port]>';
  const common = (method: string, cseq: number) =>
    [
      `${method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0`,
      'Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]',
      from,
      method === 'INVITE' ? to : `${to}[peer_tag_param]`,
      'Call-ID: [call_id]',
      `CSeq: ${cseq} ${method}`,
      'Contact: sip:sipp@[local_ip]:[local_port]',
      'Max-Forwards: 70',
    ].join('\n');
  return `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="Switchyard participant with RTP">
  <send retrans="500"><![CDATA[
${common('INVITE', 1)}
${sdpBody(2353687637)}
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rtd="true"/>
  <send><![CDATA[
${common('ACK', 1)}
Content-Length: 0

]]></send>
  <nop><action><exec play_pcap_audio="${o.pcap ?? G711_PCAP}"/></action></nop>
${o.reinviteWaitMs === undefined ? '' : acceptReinvite(o.reinviteWaitMs, o.pcap ?? G711_PCAP, o.reinviteOptional ?? false)}  <pause milliseconds="${o.pauseMs}"/>
  <send retrans="500"><![CDATA[
${common('BYE', 2)}
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
</scenario>
`;
}

/** The part of a participant that accepts a re-INVITE with a new media address and sends its RTP there. */
function acceptReinvite(waitMs: number, pcap: string, optional: boolean): string {
  // RFC 3261 §18.2.2: the response goes where the top Via says (the owner that sent the re-INVITE), not to the host
  // SIPp first called (SIPp's default); the rest of the dialog (ACK, BYE) then talks to the owner directly
  // optional: no re-INVITE within the wait jumps past the acceptance (label 9) instead of failing the call
  return `  <recv request="INVITE" timeout="${waitMs}"${optional ? ' ontimeout="9"' : ''}>
    <action>
      <ereg regexp="SIP/2.0/UDP ([^:;]+):([0-9]+)" search_in="hdr" header="Via:" check_it="true" assign_to="via,viahost,viaport"/>
      <setdest host="[$viahost]" port="[$viaport]" protocol="udp"/>
    </action>
  </recv>
  <Reference variables="via"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:sipp@[local_ip]:[local_port]>
${sdpBody(2353687638)}
]]></send>
  <recv request="ACK"/>
  <nop><action><exec play_pcap_audio="${pcap}"/></action></nop>
${optional ? '  <label id="9"/>\n' : ''}`;
}

/** The participant's SDP (G.711 A-law on SIPp's media port), session version `version`, with its headers. */
function sdpBody(version: number): string {
  return `Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 ${version} IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8
a=rtpmap:8 PCMA/8000`;
}
