// The shared Service scenarios (issue 6, "Show it") with the agents' nftables data plane, programmed
// over netlink (the default where the native addon is built; forced here so a missing addon fails).
import { scenarioSuite } from './topology.js';

scenarioSuite('nftables', { agentArgs: ['--nft-backend', 'netlink'] });
