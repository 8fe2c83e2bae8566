// exclude= on the OpenZFS 2.1 row, run in the feature tests' process (the
// third disk): it is the longest fault test, and the 2.1 row's process is
// the longest without it (see test/run.ts).
import { defineHardening } from './hardening.js';

defineHardening('OpenZFS 2.1', ['exclude']);
