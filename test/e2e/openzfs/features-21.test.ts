// The OpenZFS-only features, for real, in the OpenZFS 2.1 guest.
import { defineFeatures } from './features.js';

defineFeatures('2.1');
