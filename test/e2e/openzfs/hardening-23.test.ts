// The fault tests on the OpenZFS 2.3 row (see hardening-21.test.ts for how
// they are shared out between the two OpenZFS rows).
import { defineHardening } from './hardening.js';

defineHardening('OpenZFS 2.3', ['killed initialize', 'killed recursive initialize', 'crash during -I', 'vanished child']);
