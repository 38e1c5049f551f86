// Regular expressions written by users (feature validators, pipeline steps). On V8's
// backtracking engine a pattern like ^(a+)+$ takes exponential time on a short input and
// would stall the whole server, so:
// - V8 is told to move a regexp to its linear-time engine once it backtracks too much.
//   That engine takes the flags g, m, s and y (not i, u or v) and no backreferences or
//   lookarounds.
// - Patterns with other flags run each match in a vm context with a time limit; a match
//   over the limit throws RegexTimeoutError instead of running on.
import v8 from "node:v8";
import vm from "node:vm";
import { Code, ConnectError } from "@connectrpc/connect";
import { quote } from "./errors.js";

v8.setFlagsFromString("--enable-experimental-regexp-engine-on-excessive-backtracks");

/** How long one match of a guarded pattern may run. */
export const USER_REGEX_TIME_LIMIT_MS = 100;

const LINEAR_ENGINE_FLAGS = /^[gmsy]*$/;

/** A user's pattern took too long on an input: INVALID_ARGUMENT, naming the pattern. */
export class RegexTimeoutError extends ConnectError {
  constructor(source: string, inputLength: number) {
    super(`the pattern /${quote(source)}/ took over ${USER_REGEX_TIME_LIMIT_MS} ms on a ${inputLength}-character input; simplify it (nested repetition such as (a+)+ backtracks exponentially)`, Code.InvalidArgument);
  }
}

/** Compiles a user's pattern; throws SyntaxError for an invalid one, as `new RegExp` does. */
export function compileUserRegex(pattern: string, flags = ""): RegExp {
  return LINEAR_ENGINE_FLAGS.test(flags) ? new RegExp(pattern, flags) : new GuardedRegExp(pattern, flags);
}

const EXEC = new vm.Script("exec.call(re, input)");

// Every RegExp method (test, match, replace, split...) goes through exec, so guarding exec guards them all.
interface MatchContext {
  exec: typeof RegExp.prototype.exec;
  re: RegExp;
  input: string;
}

class GuardedRegExp extends RegExp {
  readonly #context: MatchContext;

  constructor(pattern: string | RegExp, flags?: string) {
    super(pattern, flags);
    this.#context = vm.createContext({ exec: RegExp.prototype.exec, re: this, input: "" }) as MatchContext;
  }

  override exec(input: string): RegExpExecArray | null {
    this.#context.input = input;
    try {
      return EXEC.runInContext(this.#context, { timeout: USER_REGEX_TIME_LIMIT_MS }) as RegExpExecArray | null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ERR_SCRIPT_EXECUTION_TIMEOUT") throw new RegexTimeoutError(this.source, input.length);
      throw err;
    }
  }
}
