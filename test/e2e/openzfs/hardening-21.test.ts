// The fault tests on the OpenZFS 2.1 row. Those that depend on what zfs does
// (a partial receive, resume tokens, a dying send's holds) run on both
// OpenZFS rows; those that are zettabee's logic alone on one of them (and
// all on zfs-fuse), to keep the suite's time.
import { defineHardening } from './hardening.js';

defineHardening('OpenZFS 2.1', ['half-way', 'exclude', 'killed initialize', 'unlock --force', 'unreachable']);
