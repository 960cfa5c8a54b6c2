// What the packet tracers over the fake iptables and the fake nftables take and report: the same
// packet in, the same verdict out, whichever backend rendered the rules.

export type Hook = 'prerouting' | 'output';

export interface Packet {
  src: string;
  dst: string;
  proto: 'tcp' | 'udp' | 'sctp';
  dport: number;
  /** The (original) destination is an address of this host. */
  isLocalDst: boolean;
  /** Where the packet enters: from the network or a pod ('prerouting') or from a local process ('output'). */
  hook: Hook;
  /** The source is an address of this host; defaults to hook === 'output'. */
  isLocalSrc?: boolean;
}

export interface TraceResult {
  verdict: 'dnat' | 'accept' | 'drop' | 'reject';
  /** Set when DNAT happened. */
  endpoint?: { ip: string; port: number };
  masquerade: boolean;
  /** The chains and rules walked, for `portico explain` and failing tests. */
  path: string[];
  /** Comment of the rule that decided, if any. */
  comment?: string;
}

/** A tracer's walk so far: the packet as NAT and marks have changed it, and what was decided. */
export interface TraceState {
  pkt: Packet;
  saddr: string;
  daddr: string;
  dport: number;
  mark: number;
  dnat: boolean;
  masquerade: boolean;
  endpoint?: { ip: string; port: number };
  path: string[];
  comment?: string;
}
