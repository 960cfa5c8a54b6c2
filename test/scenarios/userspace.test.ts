// The shared Service scenarios with the agents relaying in user space (`--mode userspace`, TCP through
// the native pump; userspace-js.test.ts: the JS relay; as root
// the virtual IPs go on a dummy interface, or on lo without a dummy driver). What this mode cannot
// do by design is skipped with its reason (CAPABILITIES in scenarios.ts).
import { scenarioSuite } from './topology.js';

scenarioSuite('userspace', { agentArgs: ['--userspace-relay', 'native'] });
