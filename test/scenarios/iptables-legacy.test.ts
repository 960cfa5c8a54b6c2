// The shared Service scenarios with the agents' iptables data plane forced to iptables-legacy
// (the x_tables kernel API; iptables.test.ts runs the nf_tables-based variant).
import { scenarioSuite } from './topology.js';

scenarioSuite('iptables', { agentArgs: ['--iptables-variant', 'legacy'] });
