/**
 * The daemon's life as an ordered list of steps: started in order, stopped in reverse. A step that
 * fails to start stops the ones before it (in reverse) and fails the start; a step that fails to
 * stop is logged and the others still stop.
 */
import type { Logger } from "../core/index.js";
import { errorMessage } from "../core/index.js";

export interface Step {
  name: string;
  start?: () => Promise<void> | void;
  stop?: () => Promise<void> | void;
}

/** Starts `steps` in order; resolves with the function that stops the started ones in reverse. */
export async function startSteps(steps: readonly Step[], log: Logger): Promise<() => Promise<void>> {
  const started: Step[] = [];
  const stop = async (): Promise<void> => {
    for (const step of started.splice(0).reverse()) {
      try {
        await step.stop?.();
      } catch (err) {
        log.warning("error while closing", { component: step.name, error: errorMessage(err) });
      }
    }
  };
  for (const step of steps) {
    try {
      await step.start?.();
    } catch (err) {
      await stop();
      throw err;
    }
    started.push(step);
  }
  return stop;
}
