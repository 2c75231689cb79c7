/** A benchmark reachable as `node tools/bench/dist/main.js <name> [flags]`. */
export interface Subcommand {
  /** One line for the list printed by `main.js --help`. */
  summary: string;
  /** Runs with the flags after the name (each subcommand handles its own `--help`); resolves to the exit code. */
  run(argv: string[]): Promise<number>;
}
