// The OpenZFS-only features, for real, in the OpenZFS 2.3 guest.
import { defineFeatures } from './features.js';

defineFeatures('2.3');
