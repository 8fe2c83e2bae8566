// The fault tests on the OpenZFS 2.1 row. Every test runs on zfs-fuse and on
// one OpenZFS row (2.1 and 2.3 behave alike in what they exercise), to keep
// the suite's time: here a half-finished recursive receive, unlock --force
// and an unreachable destination (and exclude=, in
// matrix-21.test.ts); on the 2.3 row a killed initialize
// (resumed), a dying -I send's holds and a vanished child.
import { defineHardening } from './hardening.js';

defineHardening('OpenZFS 2.1', ['half-way', 'unlock --force', 'unreachable']);
