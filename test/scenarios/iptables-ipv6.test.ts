// IPv6 Services through the iptables data plane, both variants (ip6tables-legacy and ip6tables-nft): see ipv6.ts.
import { ipv6Tests } from './ipv6.js';

ipv6Tests({ mode: 'iptables', variant: 'legacy' });
ipv6Tests({ mode: 'iptables', variant: 'nft' });
