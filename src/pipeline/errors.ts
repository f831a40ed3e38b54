// The one error type for a pipeline document that cannot be parsed, validated or compiled. Its message is meant for
// the person who wrote the YAML: it names the executor, the setting or the edge at fault.

export class PipelineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PipelineError";
  }
}
