// Mocha's spec output plus one closing line that any CI reads:
// "tests: N passed, N failed, N skipped". A skipped test is treated as a
// failure of the run: end-to-end tests must never skip silently.
'use strict';
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_PASS, EVENT_TEST_FAIL, EVENT_TEST_PENDING } = Mocha.Runner.constants;

class ZettabeeReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const n = { passed: 0, failed: 0, skipped: 0 };
    const skipped = [];
    runner.on(EVENT_TEST_PASS, () => n.passed++);
    runner.on(EVENT_TEST_FAIL, () => n.failed++);
    runner.on(EVENT_TEST_PENDING, (t) => {
      n.skipped++;
      skipped.push(t.fullTitle());
    });
    runner.once(EVENT_RUN_END, () => {
      for (const t of skipped) process.stdout.write(`error: skipped test (not allowed): ${t}\n`);
      process.stdout.write(`tests: ${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped\n`);
      if (n.skipped > 0) runner.failures += n.skipped;
    });
  }
}

module.exports = ZettabeeReporter;
