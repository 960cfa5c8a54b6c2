// The shared Service scenarios (issues 6 and 8) with the agents' iptables data plane, forced to
// iptables-nft (iptables-legacy.test.ts runs the same suite on the legacy x_tables variant).
import { scenarioSuite } from './topology.js';

scenarioSuite('iptables', { agentArgs: ['--iptables-variant', 'nft'] });
