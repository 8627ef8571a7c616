package dev.keymanager.cli;

import dev.keymanager.spi.KmsProvider;
import java.io.ByteArrayInputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import java.util.Map;

/** Runs the tool in-process with captured output: the picocli {@code execute} the tests use. */
final class CliRun {
  /** The outcome of one invocation. */
  record Result(int exitCode, String out, String err) {}

  private final List<KmsProvider> providers;

  CliRun(KmsProvider... providers) {
    this.providers = List.of(providers);
  }

  Result run(String... args) {
    return runWithInput(new byte[0], args);
  }

  Result runWithInput(byte[] stdin, String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CliEnv env =
        new CliEnv(
            new ByteArrayInputStream(stdin),
            Map.of(),
            false,
            providers,
            CliRun.class.getClassLoader());
    int code = Cli.run(env, new PrintWriter(out), new PrintWriter(err), args);
    return new Result(code, out.toString(), err.toString());
  }
}
