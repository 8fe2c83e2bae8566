// exclude= on the OpenZFS 2.1 row, run in the OpenZFS 2.3 tests' process
// (on the 2.1 guest, with that process's disk): it is the longest fault
// test, and the 2.1 row's process is the longest without it (see
// test/run.ts).
import { defineHardening } from './hardening.js';

defineHardening('OpenZFS 2.1', ['exclude']);
