// The fault tests on the OpenZFS 2.1 row.
import { defineHardening } from './hardening.js';

defineHardening('OpenZFS 2.1');
