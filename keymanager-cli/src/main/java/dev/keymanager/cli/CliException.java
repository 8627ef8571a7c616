package dev.keymanager.cli;

/** A failure the tool itself detects, with the exit code of its class. */
final class CliException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int exitCode;

  CliException(int exitCode, String message) {
    super(message);
    this.exitCode = exitCode;
  }

  static CliException invalidInput(String message) {
    return new CliException(ExitCodes.INVALID_INPUT, message);
  }

  static CliException config(String message) {
    return new CliException(ExitCodes.CONFIG, message);
  }

  int exitCode() {
    return exitCode;
  }
}
