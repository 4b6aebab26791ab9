import type { Reporter, TestCase } from 'vitest/node';

/**
 * Lists, at the end of a run, every test that failed and then passed when vitest ran it again
 * (`retry` in vitest.config.ts), so that a flaky test is seen and fixed rather than hidden by the retry.
 */
export default class FlakyReporter implements Reporter {
  private readonly flaky: string[] = [];

  onTestCaseResult(testCase: TestCase): void {
    if (testCase.diagnostic()?.flaky === true) this.flaky.push(`${testCase.module.relativeModuleId} > ${testCase.fullName}`);
  }

  onTestRunEnd(): void {
    if (this.flaky.length === 0) return;
    console.log(`\nPassed only when run again (flaky; each needs fixing):\n${this.flaky.map((name) => `  - ${name}`).join('\n')}\n`);
  }
}
