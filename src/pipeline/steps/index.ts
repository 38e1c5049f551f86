// The built-in step catalog.
import { StepRegistry } from "../registry.js";
import { STAGES } from "../types.js";
import { llmGenerateStep, predictStep } from "./generate.js";
import { extractJsonStep, mapFieldsStep, regexExtractStep, trimStep } from "./postprocess.js";
import { embedStep, featureLookupStep, redactStep, templateStep, truncateStep } from "./preprocess.js";
import { allowedValuesStep, jsonSchemaStep, lengthStep, regexMatchStep } from "./validate.js";

/** A registry holding every built-in step; programs may register their own steps on it. */
export function builtinSteps(): StepRegistry {
  return new StepRegistry()
    .registerStep(templateStep)
    .registerStep(featureLookupStep)
    .registerStep(redactStep)
    .registerStep(truncateStep)
    .registerStep(embedStep)
    .registerStep(llmGenerateStep)
    .registerStep(predictStep)
    .registerStep(trimStep)
    .registerStep(extractJsonStep)
    .registerStep(regexExtractStep)
    .registerStep(mapFieldsStep)
    .registerStep(jsonSchemaStep)
    .registerStep(regexMatchStep)
    .registerStep(lengthStep)
    .registerStep(allowedValuesStep);
}

/** Names of the built-in steps, for which the proto has typed messages. */
export const BUILTIN_STEP_NAMES: ReadonlySet<string> = new Set(STAGES.flatMap((stage) => builtinSteps().namesFor(stage)));
