// The catalog of step types a pipeline may use: the built-in steps plus any a program registers.
import { STAGES, type StageName, type StepDefinition } from "./types.js";

const STEP_NAME = /^[a-z][a-z0-9_]{0,63}$/;

export class StepRegistry {
  private readonly steps = new Map<string, StepDefinition<unknown>>();

  /** Registers a step type; its name must be new. Pipelines created afterwards may use it by name. */
  registerStep<C>(step: StepDefinition<C>): this {
    if (!STEP_NAME.test(step.name)) {
      throw new Error(`step name must be 1-64 characters of [a-z0-9_] starting with a letter, got '${step.name}'`);
    }
    if (!(STAGES as readonly string[]).includes(step.stage)) {
      throw new Error(`step '${step.name}': stage must be one of ${STAGES.join(", ")}, got '${step.stage}'`);
    }
    if (typeof step.validateConfig !== "function" || typeof step.run !== "function") {
      throw new Error(`step '${step.name}' needs validateConfig and run functions`);
    }
    if (this.steps.has(step.name)) throw new Error(`step '${step.name}' is already registered`);
    this.steps.set(step.name, step as StepDefinition<unknown>);
    return this;
  }

  get(name: string): StepDefinition<unknown> | undefined {
    return this.steps.get(name);
  }

  /** Step types of one stage, by name. */
  namesFor(stage: StageName): string[] {
    return [...this.steps.values()].filter((s) => s.stage === stage).map((s) => s.name).sort();
  }
}
