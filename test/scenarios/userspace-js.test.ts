// The shared Service scenarios with the userspace agents relaying TCP in JS (the fallback when
// the native pump is not built); userspace.test.ts runs them with the default (the native pump).
import { scenarioSuite } from './topology.js';

scenarioSuite('userspace', { agentArgs: ['--userspace-relay', 'js'] });
