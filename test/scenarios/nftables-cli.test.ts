// The shared Service scenarios with the nftables data plane programmed through `nft -f` (the fallback
// where the native netlink addon cannot load).
import { scenarioSuite } from './topology.js';

scenarioSuite('nftables', { agentArgs: ['--nft-backend', 'cli'] });
