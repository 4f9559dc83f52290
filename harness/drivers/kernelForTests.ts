// For vitest suites: one sandbox and kernel driver per describe block, torn down after it.
import { afterAll, beforeAll } from 'vitest';
import { openSandbox, type Sandbox } from '../sandbox.js';
import { KernelDriver } from './kernel.js';

/** Call inside a describe(); the returned getter is valid inside its tests. */
export function useKernelDriver(): () => KernelDriver {
  let sandbox: Sandbox | undefined;
  let driver: KernelDriver | undefined;
  beforeAll(() => {
    sandbox = openSandbox();
    driver = new KernelDriver(sandbox);
  });
  afterAll(async () => {
    await driver?.teardown();
    sandbox?.close();
  });
  return () => driver!;
}
